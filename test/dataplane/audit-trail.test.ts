/**
 * The aggregator's audit trail, as a hospital's auditor reads it: every update accepted or refused
 * with its site, round, bytes and the SHA-256 of exactly the bytes that came, every phase closed with
 * the global model it made, the job's end; chained so that it verifies, and named by result.json.
 * Sites here are raw clients sending bytes of the test's own, so the digests are computed apart from
 * the code under test.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import { verifyTrail } from '../../operator/audit/verify.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, tempDir, testJob } from './fixtures.js';

const SITES = ['a', 'b'];
const MODEL = {
  tensors: [
    { name: 'weight', dtype: 'F32' as const, shape: [1, 2] },
    { name: 'bias', dtype: 'F32' as const, shape: [1] },
  ],
  totalBytes: 12,
};
const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest('hex');
const f32 = (...values: number[]) => Buffer.from(new Float32Array(values).buffer);
const figures = (numSamples: number) => ({ numSamples, loss: 0.5, accuracy: 0.75, extra: {} });

function update(task: Task__Output, weight: Buffer, bias: Buffer, numSamples = 10): UpdateMessage[] {
  const header = { kind: task.kind, round: task.round, attempt: task.attempt, model: MODEL, numSamples, ...(task.kind === 'TRAIN' ? { train: figures(numSamples), eval: figures(5) } : {}) };
  return [
    { header, body: 'header' },
    { chunk: { tensor: 0, offset: 0, data: weight }, body: 'chunk' },
    { chunk: { tensor: 1, offset: 0, data: bias }, body: 'chunk' },
  ];
}

async function until(client: FederationClient, kind: string): Promise<Task__Output> {
  for (;;) {
    const task = await nextTask(client);
    if (task.kind === kind) return task;
    if (task.kind !== 'WAIT') throw new Error(`expected ${kind}, got ${task.kind}`);
  }
}

const entriesOf = async (file: string) => (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe("the aggregator's audit trail", () => {
  it('records every update accepted or refused with the SHA-256 of the bytes that came, every close, and the end; result.json names its head', async () => {
    const tmp = await tempDir('audit-trail');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const stateDir = path.join(tmp.dir, 'state');
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 1, minSites: 2 }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log: memoryLogger().log });
    const [a, b] = await Promise.all(SITES.map(async (s) => rawClient(aggregator.ready.address, await pki.client(s))));
    try {
      const zero = [f32(0, 0), f32(0)];
      for (const c of [a!, b!]) expect((await submit(c, update(await until(c, 'INITIALIZE'), zero[0]!, zero[1]!))).ok).toBe(true);
      const [ta, tb] = await Promise.all([until(a!, 'TRAIN'), until(b!, 'TRAIN')]);
      const nan = [f32(Number.NaN, 1), f32(2)];
      const refused = await submit(a!, update(ta, nan[0]!, nan[1]!));
      expect(refused).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
      const honest = { a: [f32(1, 2), f32(3)], b: [f32(3, 4), f32(5)] };
      expect((await submit(a!, update(ta, honest.a[0]!, honest.a[1]!))).ok).toBe(true);
      expect((await submit(b!, update(tb, honest.b[0]!, honest.b[1]!))).ok).toBe(true);
      for (const c of [a!, b!]) {
        const t = await until(c, 'EVALUATE');
        expect((await submit(c, [{ header: { kind: 'EVALUATE', round: t.round, attempt: t.attempt, eval: figures(5) }, body: 'header' }])).ok).toBe(true);
      }
      for (const c of [a!, b!]) await until(c, 'DONE');
      expect((await aggregator.outcome).succeeded).toBe(true);

      const file = path.join(stateDir, 'audit.jsonl');
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      const report = verifyTrail(await readFile(file, 'utf8'), { expectHead: result.audit!.head });
      expect(report).toMatchObject({ ok: true, entries: result.audit!.entries });

      const entries = await entriesOf(file);
      const pick = (e: Record<string, unknown>) => [e.event, e.site ?? e.phase ?? e.status, e.kind ?? e.round ?? null];
      expect(entries.map(pick)).toEqual([
        ['aggregator-started', undefined, null],
        ['update-accepted', 'a', 'INITIALIZE'],
        ['update-accepted', 'b', 'INITIALIZE'],
        ['phase-closed', 'INITIALIZE', 0],
        ['update-refused', 'a', 'TRAIN'],
        ['update-accepted', 'a', 'TRAIN'],
        ['update-accepted', 'b', 'TRAIN'],
        ['phase-closed', 'TRAIN', 1],
        ['update-accepted', 'a', 'EVALUATE'],
        ['update-accepted', 'b', 'EVALUATE'],
        ['phase-closed', 'EVALUATE', 1],
        ['job-ended', 'Succeeded', null],
      ]);
      const of = (event: string, site: string, kind: string) => entries.find((e) => e.event === event && e.site === site && e.kind === kind)!;
      expect(of('update-accepted', 'a', 'TRAIN')).toMatchObject({ round: 1, attempt: 0, numSamples: 10, bytes: 12, sha256: sha256(...honest.a) });
      expect(of('update-accepted', 'b', 'TRAIN')).toMatchObject({ bytes: 12, sha256: sha256(...honest.b) });
      // Refused at its first chunk: what the trail holds is what came, up to the refusal.
      expect(of('update-refused', 'a', 'TRAIN')).toMatchObject({ reason: 'not_finite', bytes: 8, sha256: sha256(nan[0]!) });
      expect(of('update-refused', 'a', 'TRAIN').message).toContain('NaN or Infinity in tensor 0');

      // The global model each close made, and the final one, are the ones the job kept.
      const final = await readSafetensors(path.join(stateDir, 'model.safetensors'));
      const finalDigest = sha256(...final.model.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
      expect(entries.find((e) => e.event === 'phase-closed' && e.phase === 'TRAIN')).toMatchObject({ participants: ['a', 'b'], globalModelSha256: finalDigest });
      expect(entries.at(-1)).toMatchObject({ event: 'job-ended', finalModelSha256: finalDigest });
    } finally {
      a!.close();
      b!.close();
      await aggregator.close();
      await tmp.remove();
    }
  });

  it('goes on with the same chain when the aggregator restarts on its state dir, and says where it resumed', async () => {
    const tmp = await tempDir('audit-trail-restart');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const stateDir = path.join(tmp.dir, 'state');
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 2, minSites: 2 }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    const tlsDir = await pki.aggregator();
    const first = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir, stateDir, log: memoryLogger().log });
    const clients = await Promise.all(SITES.map(async (s) => rawClient(first.ready.address, await pki.client(s))));
    for (const c of clients) expect((await submit(c, update(await until(c, 'INITIALIZE'), f32(0, 0), f32(0)))).ok).toBe(true);
    for (const c of clients) await until(c, 'TRAIN');
    for (const c of clients) c.close();
    await first.close();

    const second = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir, stateDir, log: memoryLogger().log });
    await second.close();
    try {
      const entries = await entriesOf(path.join(stateDir, 'audit.jsonl'));
      expect(verifyTrail(await readFile(path.join(stateDir, 'audit.jsonl'), 'utf8')).ok).toBe(true);
      expect(entries.filter((e) => e.event === 'aggregator-started').map((e) => e.resumedAt)).toEqual([null, 'TRAIN/1']);
    } finally {
      await tmp.remove();
    }
  });
});
