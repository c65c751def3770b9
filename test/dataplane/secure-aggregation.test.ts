/**
 * Secure aggregation over the real data plane: an aggregator (in this process) and sites that talk
 * mutual-TLS gRPC to it, each running the SecAgg+ site round of operator/secagg through the
 * client's SecureTraining. The job's model after a round must be the initial model plus the mean of
 * the survivors' clipped deltas, within the quantization error; dropouts at each stage are recovered
 * up to the threshold, beyond it the round fails naming the stage and the sites; a site counted
 * dropped is refused for the rest of the round; hostile inputs are refused with a status and change
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { FederationClient } from '../../operator/federation/proto.js';
import type { Model } from '../../operator/federation/model.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import type { SecAggResponse__Output } from '../../operator/federation/generated/flotilla/federation/v1/SecAggResponse.js';
import { rng } from '../../operator/process/random.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { AggregatorConnection } from '../../operator/client/connection.js';
import { SecureTraining, type SecureSite } from '../../operator/client/secure-training.js';
import { readTlsFiles } from '../../operator/pki/files.js';
import { quantizationBound } from '../../operator/secagg/quantize.js';
import { SiteRound } from '../../operator/secagg/site-round.js';
import type { Stage } from '../../operator/secagg/errors.js';
import { advertisementFromWire, advertisementToWire, envelopesFromWire, envelopesToWire, paramsFromWire, unmaskToWire } from '../../operator/secagg/wire.js';
import { NAMESPACE, TestPki, memoryLogger, tempDir, testJob } from './fixtures.js';

const SITES = ['a', 'b', 'c', 'd', 'e'];
const JOB = 'heart';
const W = 3000;
const CLIP = 1;

function seeded(seed: number, length: number, scale: number): Float32Array {
  const random = rng(seed);
  return Float32Array.from({ length }, () => (2 * random() - 1) * scale);
}

const initial: Model = [
  { name: 'w', shape: [W], data: seeded(1, W, 1) },
  { name: 'b', shape: [2], data: seeded(2, 2, 1) },
];
const LENGTH = W + 2;
/** Each site's delta: within the clipping range, except a few coordinates that the clip must cut. */
const deltas = new Map(
  SITES.map((site, k) => {
    const d = Float64Array.from(seeded(10 + k, LENGTH, 0.5));
    d[k] = 3 * (k % 2 === 0 ? 1 : -1);
    return [site, d] as const;
  }),
);

/** What the model after one round must be: the initial one plus the mean of the survivors' clipped deltas. */
function expectedModel(survivors: string[]): Float64Array {
  const flat = Float64Array.from([...initial[0]!.data, ...initial[1]!.data]);
  for (let i = 0; i < LENGTH; i++) {
    let sum = 0;
    for (const s of survivors) sum += Math.max(-CLIP, Math.min(CLIP, deltas.get(s)![i]!));
    flat[i]! += sum / survivors.length;
  }
  return flat;
}

const codeOf = (err: unknown) => (err as ServiceError).code;
const bytes = (words: Uint32Array) => Buffer.from(words.buffer, words.byteOffset, words.byteLength);

/** A masked update stream of hand-cut chunks, as a hostile site might send it. */
function masked(connection: AggregatorConnection, header: object, chunks: { offset: number; words: Buffer }[]): Promise<unknown> {
  const client = (connection as unknown as { client: FederationClient }).client;
  return new Promise((resolve, reject) => {
    const call = client.submitMasked((err, res) => (err ? reject(err) : resolve(res)));
    call.write({ header, body: 'header' });
    for (const chunk of chunks) call.write({ chunk, body: 'chunk' });
    call.end();
  });
}

async function eventually(test: () => boolean): Promise<void> {
  while (!test()) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('secure aggregation over the data plane', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  const tls = new Map<string, string>();

  beforeAll(async () => {
    tmp = await tempDir('secagg');
    pki = await TestPki.create(tmp.dir, JOB);
    for (const site of SITES) tls.set(site, await pki.client(site));
  });
  afterAll(() => tmp.remove());

  async function secureSite(site: string): Promise<SecureSite> {
    return { namespace: NAMESPACE, job: JOB, site, ...(await readTlsFiles(tls.get(site)!)) };
  }

  /** Asks NextTask until a task of `kind` (or DONE) comes; sends the initial model when asked. */
  async function until(connection: AggregatorConnection, kind: string): Promise<Task__Output> {
    for (;;) {
      const task = await connection.nextTask(2_000);
      if (task.kind === kind || task.kind === 'DONE') return task;
      if (task.kind === 'INITIALIZE') {
        const header = { kind: 'INITIALIZE' as const, round: 0, attempt: task.attempt, model: { tensors: initial.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape })), totalBytes: LENGTH * 4 } };
        await connection.submitUpdate(header, initial.map((t) => t.data)).catch((err: unknown) => {
          if (codeOf(err) !== status.FAILED_PRECONDITION) throw err;
        });
      }
    }
  }

  const trainHeader = (task: Task__Output) => ({ kind: 'TRAIN' as const, round: task.round, attempt: task.attempt, numSamples: 50, train: { numSamples: 50, loss: 0.5, accuracy: 0.7, extra: {} } });

  /** An honest site: its secure round through the client's SecureTraining, then the final evaluation. */
  async function honest(connection: AggregatorConnection, site: string): Promise<void> {
    const secure = new SecureTraining(connection, await secureSite(site), memoryLogger().log);
    for (;;) {
      const task = await until(connection, 'TRAIN');
      if (task.kind === 'DONE') return;
      try {
        await secure.run(task, async () => ({ header: trainHeader(task), delta: deltas.get(site)! }));
      } catch (err) {
        // A failed attempt is retried with a new task, or the job ends.
        if (codeOf(err) !== status.FAILED_PRECONDITION) throw err;
        continue;
      }
      break;
    }
    await evaluateAndEnd(connection);
  }

  /**
   * A site that takes part up to `silentAt` and then says nothing, as one that lost its network;
   * once the round is past that stage it comes back with what it would have sent next, and hears
   * how it is answered.
   */
  async function dropping(connection: AggregatorConnection, site: string, silentAt: Stage, counted: Promise<void>): Promise<{ code: number; details: string }> {
    const task = await until(connection, 'TRAIN');
    const params = paramsFromWire(task.secagg!, { namespace: NAMESPACE, job: JOB, round: task.round });
    const creds = await secureSite(site);
    const round = new SiteRound(params, site, creds, creds.caPem);
    const call = (body: object) => connection.secAgg({ round: task.round, attempt: task.attempt, waitMs: 2_000, ...body });
    const next = async (body: object): Promise<SecAggResponse__Output> => {
      let answer = await call(body);
      while (answer.body === 'wait') answer = await call({});
      return answer;
    };
    const ad = { advertisement: advertisementToWire(round.advertise()), body: 'advertisement' };
    let comeback: () => Promise<unknown> = () => call(ad);
    if (silentAt !== 'advertise') {
      const directory = (await next(ad)).directory!;
      const envelopes = round.shareKeys({ sites: directory.sites, advertisements: directory.advertisements.map(advertisementFromWire) });
      const shares = { shares: { envelopes: envelopesToWire(envelopes) }, body: 'shares' };
      comeback = () => call(shares);
      if (silentAt !== 'share') {
        const relayed = (await next(shares)).relayed!;
        const words = [...round.maskedInput(envelopesFromWire(relayed.envelopes), deltas.get(site)!)];
        comeback = () => connection.submitMasked(trainHeader(task), words);
        if (silentAt !== 'collect') {
          await connection.submitMasked(trainHeader(task), words);
          const survivors = (await next({})).survivors!;
          const response = round.unmask({ survivors: survivors.sites });
          comeback = () => call({ unmask: unmaskToWire(response), body: 'unmask' });
        }
      }
    }
    await counted;
    const answer = await comeback().then(
      () => ({ code: status.OK, details: 'answered' }),
      (err: ServiceError) => ({ code: err.code, details: err.details }),
    );
    // Then on as any site: the final evaluation asks every one of them.
    await evaluateAndEnd(connection);
    return answer;
  }

  async function evaluateAndEnd(connection: AggregatorConnection): Promise<void> {
    const evaluate = await until(connection, 'EVALUATE');
    if (evaluate.kind === 'DONE') return;
    await connection.submitUpdate({ kind: 'EVALUATE', round: evaluate.round, attempt: evaluate.attempt, eval: { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} } }, []);
    await until(connection, 'DONE');
  }

  /**
   * A site that tries, before each honest step, what a hostile or broken one might send. Each try
   * must be refused with INVALID_ARGUMENT and change nothing: the site then goes on honestly.
   */
  async function hostile(connection: AggregatorConnection, site: string): Promise<{ attack: string; code: number }[]> {
    const task = await until(connection, 'TRAIN');
    const params = paramsFromWire(task.secagg!, { namespace: NAMESPACE, job: JOB, round: task.round });
    const creds = await secureSite(site);
    const round = new SiteRound(params, site, creds, creds.caPem);
    const tried: { attack: string; code: number }[] = [];
    const attempt = { round: task.round, attempt: task.attempt, waitMs: 0 };
    const attack = async (name: string, send: () => Promise<unknown>) => {
      tried.push({ attack: name, code: await send().then(() => status.OK, (err: ServiceError) => err.code) });
    };
    const next = async (body: object): Promise<SecAggResponse__Output> => {
      let answer = await connection.secAgg({ ...attempt, waitMs: 2_000, ...body });
      while (answer.body === 'wait') answer = await connection.secAgg({ ...attempt, waitMs: 2_000 });
      return answer;
    };
    const ad = advertisementToWire(round.advertise());
    await attack('a mask key of 31 bytes', () => connection.secAgg({ ...attempt, advertisement: { ...ad, maskKey: (ad.maskKey as Buffer).subarray(1) }, body: 'advertisement' }));
    await attack("another site's name", () => connection.secAgg({ ...attempt, advertisement: { ...ad, site: 'a' }, body: 'advertisement' }));
    const other = advertisementToWire(new SiteRound(params, site, creds, creds.caPem).advertise());
    await attack('keys the signature is not of', () => connection.secAgg({ ...attempt, advertisement: { ...ad, maskKey: other.maskKey }, body: 'advertisement' }));
    const directory = (await next({ advertisement: ad, body: 'advertisement' })).directory!;
    const envelopes = envelopesToWire(round.shareKeys({ sites: directory.sites, advertisements: directory.advertisements.map(advertisementFromWire) }));
    await attack('an envelope cut short', () => connection.secAgg({ ...attempt, shares: { envelopes: envelopes.map((e, i) => (i === 0 ? { ...e, envelope: (e.envelope as Buffer).subarray(1) } : e)) }, body: 'shares' }));
    await attack('a neighbour left without its envelope', () => connection.secAgg({ ...attempt, shares: { envelopes: envelopes.slice(1) }, body: 'shares' }));
    const relayed = (await next({ shares: { envelopes }, body: 'shares' })).relayed!;
    const words = [...round.maskedInput(envelopesFromWire(relayed.envelopes), deltas.get(site)!)];
    await attack('a chunk of 5 bytes', () => masked(connection, trainHeader(task), [{ offset: 0, words: Buffer.alloc(5) }]));
    await attack('a chunk at the wrong offset', () => masked(connection, trainHeader(task), [{ offset: 7, words: bytes(words[0]!) }]));
    await attack('a word too many', () => masked(connection, trainHeader(task), [{ offset: 0, words: Buffer.concat([bytes(words[0]!), Buffer.alloc(4)]) }]));
    await attack('a stream that stops short', () => masked(connection, trainHeader(task), [{ offset: 0, words: bytes(words[0]!).subarray(0, 400) }]));
    await connection.submitMasked(trainHeader(task), words);
    const survivors = (await next({})).survivors!;
    const response = unmaskToWire(round.unmask({ survivors: survivors.sites }));
    const [first, ...rest] = response.selfMaskShares!;
    await attack('a mask-key share for a survivor', () => connection.secAgg({ ...attempt, unmask: { selfMaskShares: rest, maskKeyShares: [first!] }, body: 'unmask' }));
    await attack('a share of 3 bytes', () => connection.secAgg({ ...attempt, unmask: { ...response, selfMaskShares: [{ ...first!, y: Buffer.alloc(3) }, ...rest] }, body: 'unmask' }));
    expect((await next({ unmask: response, body: 'unmask' })).body).toBe('done');
    await evaluateAndEnd(connection);
    return tried;
  }

  async function run(name: string, options: { drop?: Map<string, Stage>; threshold?: number; retries?: number; hostile?: string } = {}) {
    const stateDir = path.join(tmp.dir, name);
    const { log, lines } = memoryLogger();
    const settings = testJob(
      JOB,
      { sites: { names: SITES }, rounds: 1, minSites: 3, maxRoundRetries: options.retries ?? 0, secureAggregation: { threshold: options.threshold ?? 3, clippingRange: CLIP } },
      { deadlineMs: 12_000, heartbeatTimeoutMs: 20_000 },
    );
    settings.secureAggregation!.stageTimeoutMs = 1_500;
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log });
    const connections = new Map<string, AggregatorConnection>();
    for (const site of SITES) connections.set(site, await AggregatorConnection.dial(aggregator.ready.address, tls.get(site)!, { namespace: NAMESPACE, job: JOB }));
    try {
      const outcome = aggregator.outcome;
      const comebacks = new Map<string, Promise<{ code: number; details: string }>>();
      const honestSites = SITES.filter((s) => !options.drop?.has(s) && s !== options.hostile);
      const attacks = options.hostile ? hostile(connections.get(options.hostile)!, options.hostile) : Promise.resolve([]);
      // A dropped site comes back once the aggregator closed the stage it was silent in (the round goes on, but for the unmask stage).
      const closed = (stage: Stage) => eventually(() => lines.some((l) => l.message === 'secure aggregation stage closed' && l.stage === stage));
      for (const [site, stage] of options.drop ?? []) comebacks.set(site, dropping(connections.get(site)!, site, stage, closed(stage)));
      await Promise.all(honestSites.map((s) => honest(connections.get(s)!, s)));
      const ended = await outcome;
      const answers = new Map<string, { code: number; details: string }>();
      for (const [site, answer] of comebacks) answers.set(site, await answer);
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      let model: Float64Array | null = null;
      if (ended.succeeded) {
        const saved = (await readSafetensors(path.join(stateDir, 'model.safetensors'))).model;
        model = Float64Array.from([...saved[0]!.data, ...saved[1]!.data]);
      }
      return { ended, result, model, answers, lines, attacks: await attacks };
    } finally {
      for (const c of connections.values()) c.close();
      await aggregator.close();
    }
  }

  const furthest = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
  /** The quantization bound on the mean, plus float32's rounding of a model of values below 2. */
  const tolerance = (m: number) => quantizationBound(CLIP, SITES.length, m) / m + 2 ** -22;

  it('moves the model by the mean of every site’s clipped delta, and records the round’s figures', async () => {
    const { ended, result, model } = await run('all');
    expect(ended).toEqual({ succeeded: true, message: 'trained 1 rounds and evaluated the final model' });
    expect(furthest(model!, expectedModel(SITES))).toBeLessThanOrEqual(tolerance(5));
    // Not a sum that merely looks right: without site e it is far off.
    expect(furthest(model!, expectedModel(SITES.slice(0, 4)))).toBeGreaterThan(0.01);
    const [round] = result.rounds;
    expect(round!.participants).toEqual(SITES);
    expect(round!.secureAggregation).toMatchObject({ threshold: 3, neighbours: 4, sites: SITES, dropped: {}, maskedBytes: 5 * LENGTH * 4 });
    expect(Object.keys(round!.secureAggregation!.stageSeconds).sort()).toEqual(['advertise', 'collect', 'share', 'unmask']);
  }, 60_000);

  it('refuses hostile stage messages and masked chunks with INVALID_ARGUMENT, and they change nothing: the model is the same bytes', async () => {
    const honestRun = await run('honest');
    const attacked = await run('hostile', { hostile: 'e' });
    expect(attacked.ended.succeeded).toBe(true);
    expect(attacked.attacks).toEqual(attacked.attacks.map(({ attack }) => ({ attack, code: status.INVALID_ARGUMENT })));
    expect(attacked.attacks).toHaveLength(11);
    expect(attacked.result.rounds[0]!.participants).toEqual(SITES);
    // The masks differ in every run; the unmasked sum of the quantized updates is exact, so the model is the same bits.
    expect(Buffer.from(attacked.model!.buffer).equals(Buffer.from(honestRun.model!.buffer))).toBe(true);
  }, 90_000);

  it.each<[Stage, boolean]>([
    ['advertise', false],
    ['share', false],
    ['collect', false],
    ['unmask', true],
  ])('recovers from a site that drops at stage %s, and refuses it when it comes back', async (stage, inSum) => {
    const { ended, result, model, answers } = await run(`drop-${stage}`, { drop: new Map([['c', stage]]) });
    expect(ended.succeeded).toBe(true);
    const survivors = inSum ? SITES : SITES.filter((s) => s !== 'c');
    expect(result.rounds[0]!.participants).toEqual(survivors);
    expect(result.rounds[0]!.secureAggregation!.dropped).toEqual({ c: stage });
    expect(furthest(model!, expectedModel(survivors))).toBeLessThanOrEqual(tolerance(survivors.length));
    // Back after it was counted dropped: refused for the round (which is over by then, or past its stage).
    const answer = answers.get('c')!;
    expect(answer.code).toBe(status.FAILED_PRECONDITION);
    expect(answer.details).toMatch(stage === 'unmask' ? /no secure aggregation of round 1 attempt 0 is open for site c|counted dropped/ : /counted dropped|is open for site c/);
  }, 60_000);

  it('hands a site that waits in NextTask across a failed attempt the next attempt as soon as its secure round opens', async () => {
    // Every site takes attempt 0's task and stays silent, so its advertise stage fails; then each
    // waits in NextTask with a long poll for what comes next. The next attempt's TRAIN task goes out
    // only with its secure round's parameters, and that round opens a tick after the round state
    // moved to the attempt: a site must be woken then, not left to its poll's end (30 s), by which
    // time the attempt's first stage is long over without it. (Here the close between the attempts
    // is quick, and the sites may ask only after the round opened; a close slowed by a loaded disk
    // left two sites of test/simulate/secure-aggregation.test.ts waiting in 2 runs of 4.)
    const stateDir = path.join(tmp.dir, 'waiting');
    const { log, lines } = memoryLogger();
    const settings = testJob(JOB, { sites: { names: SITES }, rounds: 1, minSites: 3, maxRoundRetries: 1, secureAggregation: { threshold: 3, clippingRange: CLIP } }, { deadlineMs: 12_000, heartbeatTimeoutMs: 20_000 });
    settings.secureAggregation!.stageTimeoutMs = 1_500;
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log });
    const connections = new Map<string, AggregatorConnection>();
    for (const site of SITES) connections.set(site, await AggregatorConnection.dial(aggregator.ready.address, tls.get(site)!, { namespace: NAMESPACE, job: JOB }));
    try {
      const firstTasks = await Promise.all(SITES.map((site) => until(connections.get(site)!, 'TRAIN')));
      expect(firstTasks.map((t) => t.attempt)).toEqual(SITES.map(() => 0));
      const failed = eventually(() => lines.some((l) => l.message === 'secure aggregation stage closed' && l.attempt === 0)).then(() => Date.now());
      const waited = await Promise.all(
        SITES.map(async (site) => {
          for (;;) {
            const task = await connections.get(site)!.nextTask(30_000);
            if (task.kind === 'TRAIN' && task.attempt === 0) {
              await new Promise((resolve) => setTimeout(resolve, 20));
              continue;
            }
            return { task, at: Date.now() };
          }
        }),
      );
      const failedAt = await failed;
      for (const { task, at } of waited) {
        expect(task).toMatchObject({ kind: 'TRAIN', round: 1, attempt: 1 });
        expect(task.secagg).toBeTruthy();
        expect(at - failedAt).toBeLessThan(5_000);
      }
      // And the attempt then runs with every site.
      await Promise.all(
        SITES.map(async (site) => {
          const secure = new SecureTraining(connections.get(site)!, await secureSite(site), memoryLogger().log);
          await secure.run(waited[SITES.indexOf(site)]!.task, async () => ({ header: trainHeader(waited[SITES.indexOf(site)]!.task), delta: deltas.get(site)! }));
          await evaluateAndEnd(connections.get(site)!);
        }),
      );
      expect(await aggregator.outcome).toEqual({ succeeded: true, message: 'trained 1 rounds and evaluated the final model' });
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      expect(result.rounds[0]).toMatchObject({ attempt: 1, participants: SITES });
    } finally {
      for (const c of connections.values()) c.close();
      await aggregator.close();
    }
  }, 90_000);

  it('fails the round when more sites drop than the threshold allows, naming the stage and the sites', async () => {
    const { ended, result } = await run('beyond', { drop: new Map<string, Stage>([['b', 'share'], ['d', 'share'], ['e', 'share']]) });
    expect(ended.succeeded).toBe(false);
    expect(result.reason).toMatch(/secure aggregation failed at stage share/);
    for (const site of ['b', 'd', 'e']) expect(result.reason).toContain(site);
  }, 60_000);
});
