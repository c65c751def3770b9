/**
 * Hostile compressed chunks leave nothing behind. Under each upload encoding a listed site streams
 * a well-formed first chunk of its update (folded at once) and then a chunk written by this test's
 * own encoder that must not decode: a bad scale, a NaN, an index out of range or repeated, more than
 * k entries, a wrong length. Each is refused with its gRPC status, and the job's final model is the
 * very same bytes as a run where that site only ever sent its honest update.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { jest } from '@jest/globals';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import type { Model } from '../../operator/federation/model.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import type { ChunkEncoding } from '../../operator/federation/generated/flotilla/federation/v1/ChunkEncoding.js';
import { rng } from '../../operator/process/random.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, taskOf, tempDir, testJob } from './fixtures.js';

jest.setTimeout(180_000);

const SITES = ['a', 'b', 'c'];
/** One full chunk of 262144 elements and a short one. */
const DENSE = 262_144;
const W = DENSE + 1000;
const TOP_K = 0.1;

function seeded(seed: number, length: number, scale: number, around?: Float32Array): Float32Array {
  const random = rng(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (around ? around[i]! : 0) + (2 * random() - 1) * scale;
  return out;
}

const initial: Model = [{ name: 'w', shape: [W], data: seeded(1, W, 1) }];
const delta = (site: string): Float32Array => seeded(10 + SITES.indexOf(site), W, 0.05);
const SAMPLES: Record<string, number> = { a: 120, b: 37, c: 301 };
const header = (task: Task__Output, encoding: ChunkEncoding, site: string): UpdateHeader => ({
  kind: 'TRAIN',
  round: task.round,
  attempt: task.attempt,
  numSamples: SAMPLES[site]!,
  encoding,
  model: { tensors: [{ name: 'w', dtype: 'F32', shape: [W] }], totalBytes: W * 4 },
});

// This test's own encoder: the layouts of federation.proto's ChunkEncoding, written byte by byte.
const le32 = (...xs: number[]) => Buffer.from(Uint32Array.from(xs).buffer);
const f32 = (...xs: number[]) => Buffer.from(Float32Array.from(xs).buffer);

function int8(values: Float32Array): Buffer {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  const scale = max / 127;
  return Buffer.concat([f32(scale), Buffer.from(Int8Array.from(values, (v) => Math.round(v / scale)).buffer)]);
}

function half(x: number): number {
  // Good enough for |x| < 1 and not tiny: sign, 5-bit exponent, 10-bit mantissa (truncated).
  if (x === 0) return 0;
  const sign = x < 0 ? 0x8000 : 0;
  const e = Math.floor(Math.log2(Math.abs(x)));
  if (e < -14) return sign;
  return sign | ((e + 15) << 10) | Math.floor((Math.abs(x) / 2 ** e - 1) * 1024);
}
const fp16 = (values: Float32Array) => Buffer.from(Uint16Array.from(values, half).buffer);

function topK(values: Float32Array): Buffer {
  const k = Math.ceil(TOP_K * values.length);
  // The k-th largest magnitude (the deltas are random: no ties), then every index at or above it.
  const threshold = new Float32Array(values.length).map((_, i) => Math.abs(values[i]!)).sort()[values.length - k]!;
  const order = [...values.keys()].filter((i) => Math.abs(values[i]!) >= threshold);
  return Buffer.concat([le32(values.length), Buffer.from(Uint32Array.from(order).buffer), Buffer.from(Float32Array.from(order, (i) => values[i]!).buffer)]);
}

const ENCODERS: Record<'INT8' | 'FP16' | 'TOP_K', (values: Float32Array) => Buffer> = { INT8: int8, FP16: fp16, TOP_K: topK };

const encoded = new Map<string, Buffer[]>();

/** A site's update: its delta's chunks, encoded; `second` replaces the bytes of the second chunk. */
function update(task: Task__Output, encoding: keyof typeof ENCODERS, site: string, second?: Buffer): UpdateMessage[] {
  const key = `${encoding}/${site}`;
  if (!encoded.has(key)) {
    const d = delta(site);
    encoded.set(key, [ENCODERS[encoding](d.subarray(0, DENSE)), ENCODERS[encoding](d.subarray(DENSE))]);
  }
  const [first, last] = encoded.get(key)!;
  return [
    { header: header(task, encoding, site), body: 'header' },
    { chunk: { tensor: 0, offset: 0, data: first! }, body: 'chunk' },
    { chunk: { tensor: 0, offset: DENSE * 4, data: second ?? last! }, body: 'chunk' },
  ];
}

interface Attack {
  encoding: keyof typeof ENCODERS;
  name: string;
  second?: Buffer;
  /** Instead of an update with a hostile second chunk: these messages. */
  messages?: (task: Task__Output) => UpdateMessage[];
  code: status;
  details: RegExp;
}

const ATTACKS: Attack[] = [
  { encoding: 'INT8', name: 'a negative scale', second: Buffer.concat([f32(-0.01), Buffer.alloc(1000, 3)]), code: status.INVALID_ARGUMENT, details: /scale -0.0099/ },
  { encoding: 'INT8', name: 'a NaN scale', second: Buffer.concat([f32(NaN), Buffer.alloc(1000, 3)]), code: status.INVALID_ARGUMENT, details: /scale NaN/ },
  { encoding: 'INT8', name: '-128', second: Buffer.concat([f32(0.001), Buffer.alloc(1000, 0x80)]), code: status.INVALID_ARGUMENT, details: /-128/ },
  { encoding: 'INT8', name: 'a scale that moves the model out of range', second: Buffer.concat([f32(3e36), Buffer.alloc(1000, 127)]), code: status.INVALID_ARGUMENT, details: /NaN or Infinity|out of|moves the model/ },
  { encoding: 'FP16', name: 'a NaN', second: Buffer.concat([Buffer.alloc(998 * 2), Buffer.from([0x00, 0x7e, 0, 0])]), code: status.INVALID_ARGUMENT, details: /NaN or Infinity/ },
  { encoding: 'FP16', name: 'an odd length', second: Buffer.alloc(1999), code: status.INVALID_ARGUMENT, details: /not 2 per element/ },
  { encoding: 'FP16', name: 'more elements than the tensor has left', second: Buffer.alloc(1001 * 2), code: status.RESOURCE_EXHAUSTED, details: /ends at element 263145/ },
  { encoding: 'TOP_K', name: 'an index out of range', second: Buffer.concat([le32(1000, 1000), f32(0.5)]), code: status.INVALID_ARGUMENT, details: /index 1000, out of its 1000 elements/ },
  { encoding: 'TOP_K', name: 'duplicate indices', second: Buffer.concat([le32(1000, 7, 7), f32(0.5, 0.5)]), code: status.INVALID_ARGUMENT, details: /index 7 after 7/ },
  {
    encoding: 'TOP_K',
    name: 'more than k entries',
    second: Buffer.concat([le32(1000, ...Array.from({ length: 101 }, (_, i) => i)), f32(...Array.from({ length: 101 }, () => 0.01))]),
    code: status.INVALID_ARGUMENT,
    details: /101 entries for 1000 elements; at most 100/,
  },
  { encoding: 'TOP_K', name: 'a count past what a chunk may cover', second: Buffer.concat([le32(2 ** 31, 0), f32(0.5)]), code: status.INVALID_ARGUMENT, details: /covers 2147483648 elements; at most 262144/ },
  { encoding: 'TOP_K', name: 'a wrong length', second: Buffer.concat([le32(1000, 0), f32(0.5), Buffer.alloc(3)]), code: status.INVALID_ARGUMENT, details: /4, then 8 per entry/ },
  { encoding: 'TOP_K', name: 'a NaN value', second: Buffer.concat([le32(1000, 3), f32(NaN)]), code: status.INVALID_ARGUMENT, details: /NaN or Infinity/ },
  {
    encoding: 'TOP_K',
    name: 'an update that says it is unencoded',
    messages: (task) => [{ header: { ...header(task, 'TOP_K', 'c'), encoding: 'ENCODING_NONE' }, body: 'header' }],
    code: status.INVALID_ARGUMENT,
    details: /encoded ENCODING_NONE; this job's uploads are TOP_K/,
  },
];

const COMPRESSION: Record<keyof typeof ENCODERS, Record<string, unknown>> = {
  INT8: { upload: 'Int8' },
  FP16: { upload: 'FP16' },
  TOP_K: { upload: 'TopK', topKFraction: TOP_K },
};

describe('refused compressed updates leave the aggregate exactly as it was', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  const tls = new Map<string, string>();
  let runs = 0;

  beforeAll(async () => {
    tmp = await tempDir('compressed-refusals');
    pki = await TestPki.create(tmp.dir, 'heart');
    for (const site of SITES) tls.set(site, await pki.client(site));
  });
  afterAll(() => tmp.remove());

  /** One round: a, then c (after `attack`, if any), then b; returns the final model's bytes and the attack's outcome. */
  async function run(encoding: keyof typeof ENCODERS, attack?: Attack) {
    const stateDir = path.join(tmp.dir, `run-${++runs}`);
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 1, minSites: 3, compression: COMPRESSION[encoding] }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log: memoryLogger().log });
    const clients = new Map<string, FederationClient>();
    for (const site of SITES) clients.set(site, await rawClient(aggregator.ready.address, tls.get(site)!));
    const site = (s: string) => clients.get(s)!;
    try {
      const tasks = new Map<string, Task__Output>();
      await Promise.all(
        SITES.map(async (s) => {
          for (;;) {
            const task = await nextTask(site(s));
            if (task.kind === 'INITIALIZE') {
              const init: UpdateMessage[] = [
                { header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model: { tensors: [{ name: 'w', dtype: 'F32', shape: [W] }], totalBytes: W * 4 } }, body: 'header' },
                { chunk: { tensor: 0, offset: 0, data: Buffer.from(initial[0]!.data.buffer, 0, DENSE * 4) }, body: 'chunk' },
                { chunk: { tensor: 0, offset: DENSE * 4, data: Buffer.from(initial[0]!.data.buffer, DENSE * 4) }, body: 'chunk' },
              ];
              const sent = await submit(site(s), init);
              if (!sent.ok && sent.code !== status.FAILED_PRECONDITION) throw new Error(`initial model refused: ${sent.details}`);
            } else if (task.kind === 'TRAIN') {
              tasks.set(s, task);
              return;
            } else if (task.kind !== 'WAIT') throw new Error(`unexpected ${task.kind}`);
          }
        }),
      );
      expect(tasks.get('c')!.compression).toMatchObject({ upload: encoding });
      let refusal: { code: number; details: string } | null = null;
      for (const s of ['a', 'c', 'b']) {
        if (s === 'c' && attack) {
          const outcome = await submit(site(s), attack.messages ? attack.messages(tasks.get(s)!) : update(tasks.get(s)!, encoding, s, attack.second));
          refusal = outcome.ok ? { code: status.OK, details: 'accepted' } : { code: outcome.code, details: outcome.details };
        }
        const outcome = await submit(site(s), update(tasks.get(s)!, encoding, s));
        if (!outcome.ok) throw new Error(`the honest update of ${s} was refused: ${outcome.details}`);
      }
      for (const s of SITES) {
        const task = await taskOf(site(s), 'EVALUATE');
        const evaluation = { kind: 'EVALUATE', round: task.round, attempt: task.attempt, eval: { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} } } as const;
        expect(await submit(site(s), [{ header: evaluation, body: 'header' }])).toMatchObject({ ok: true });
      }
      for (const s of SITES) await taskOf(site(s), 'DONE');
      expect((await aggregator.outcome).succeeded).toBe(true);
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      const { model } = await readSafetensors(path.join(stateDir, result.model!));
      return { bytes: Buffer.from(model[0]!.data.buffer, model[0]!.data.byteOffset, model[0]!.data.byteLength), refusal };
    } finally {
      for (const c of clients.values()) c.close();
      await aggregator.close();
    }
  }

  it.each(['INT8', 'FP16', 'TOP_K'] as const)('under %s', async (encoding) => {
    const honest = await run(encoding);
    // The honest run did move the model: the encoded deltas were decoded and folded.
    expect(honest.bytes.equals(Buffer.from(initial[0]!.data.buffer))).toBe(false);
    for (const attack of ATTACKS.filter((a) => a.encoding === encoding)) {
      const attacked = await run(encoding, attack);
      expect({ attack: attack.name, code: attacked.refusal?.code, same: attacked.bytes.equals(honest.bytes) }).toEqual({ attack: attack.name, code: attack.code, same: true });
      expect(attacked.refusal!.details).toMatch(attack.details);
    }
  });
});
