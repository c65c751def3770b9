import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { BufferedRoundState } from './buffered-round-state.js';
import { CheckpointStore } from './checkpoint.js';
import { Refusal } from './refusal.js';
import type { SiteRound } from './result.js';
import { UpdateBuffer, stalenessWeight, type AsynchronousSpec } from './update-buffer.js';
import { WeightedAverage } from './weighted-average.js';

const SPEC: AsynchronousSpec = { bufferSize: 2, maxStaleness: 2, staleness: 'Polynomial', stalenessExponent: 0.5, serverLearningRate: 0.5 };
const entry = (site: string, numSamples: number): SiteRound => ({ site, numSamples, train: null, eval: null });
const model = (...values: number[]) => [{ name: 'w', shape: [values.length], data: Float32Array.from(values) }];

describe('stalenessWeight', () => {
  it('is 1/(1+τ)^a, or 1 when constant', () => {
    expect(stalenessWeight(SPEC, 0)).toBe(1);
    expect(stalenessWeight(SPEC, 3)).toBeCloseTo(0.5, 15);
    expect(stalenessWeight({ ...SPEC, stalenessExponent: 1 }, 4)).toBeCloseTo(0.2, 15);
    expect(stalenessWeight({ ...SPEC, staleness: 'Constant' }, 9)).toBe(1);
  });
});

describe('UpdateBuffer', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-buffer-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('takes each delta against the version it was trained on, weighs it by records and staleness, and steps by η_g times the mean over the records', () => {
    const global = model(0, 0);
    const buffer = new UpdateBuffer(SPEC, global, 4, null, 0);
    const strategy = new WeightedAverage('FedAvg', 0);
    buffer.add(entry('a', 100), 0, [Float32Array.of(1, 2)]);
    buffer.add(entry('b', 300), 0, [Float32Array.of(3, -2)]);
    const first = buffer.apply(global, strategy, 1, 1000);
    // 0.5 · (100·(1,2) + 300·(3,−2)) / 400 = (1.25, −0.5)
    expect([...global[0]!.data]).toEqual([1.25, -0.5]);
    expect(first.sites.map((s) => s.site)).toEqual(['a', 'b']);
    expect(first.asynchronous).toEqual({ version: 1, updates: 2 });
    // Version 1 now: a's update on version 0 is one version stale; b's on version 1 is fresh.
    const stale = buffer.add(entry('a', 100), 0, [Float32Array.of(2, 2)]);
    buffer.add(entry('b', 100), 1, [Float32Array.of(1.25, 0.5)]);
    expect(stale).toMatchObject({ trainedOn: 0, staleness: 1 });
    expect(stale.stalenessWeight).toBeCloseTo(Math.SQRT1_2, 15);
    buffer.apply(global, strategy, 2, 2000);
    // 0.5 · (100·(1/√2)·(2,2) + 100·(0,1)) / 200
    expect(global[0]!.data[0]).toBeCloseTo(1.25 + Math.SQRT1_2 / 2, 6);
    expect(global[0]!.data[1]).toBeCloseTo(-0.5 + Math.SQRT1_2 / 2 + 0.25, 6);
    // maxStaleness 2: at version 2, versions 0, 1 and 2 are kept; at version 3, 0 is gone.
    expect(buffer.base(0)).toBeDefined();
    buffer.add(entry('a', 1), 2, [Float32Array.of(0, 0)]);
    buffer.add(entry('b', 1), 2, [Float32Array.of(0, 0)]);
    buffer.apply(global, strategy, 3, 3000);
    expect(buffer.base(0)).toBeUndefined();
    expect(buffer.base(1)).toBeDefined();
  });

  it('once sealed, makes its version of exactly what it held: later updates go to the next version, stale against it', async () => {
    const global = model(0, 0);
    const buffer = new UpdateBuffer(SPEC, global, 3, null, 0);
    buffer.add(entry('a', 1), 0, [Float32Array.of(1, 1)]);
    expect(buffer.current).toBe(0);
    buffer.add(entry('b', 1), 0, [Float32Array.of(1, 1)]);
    // Full: sealed at once.
    expect(buffer.current).toBe(1);
    const late = buffer.add(entry('c', 1), 0, [Float32Array.of(4, 4)]);
    expect(late).toMatchObject({ trainedOn: 0, staleness: 1 });
    // Written and read back while the version is being made: both buffers come back.
    const store = new CheckpointStore(dir, 'ns/job');
    await store.save({ position: { phase: 'TRAIN', round: 1 }, outcome: null, statistics: null, history: [], finalEvaluation: null, model: global, optimizer: [], buffer: buffer.state({}) });
    const loaded = (await new CheckpointStore(dir, 'ns/job').load())!;
    const restored = new UpdateBuffer(SPEC, loaded.model!, 3, loaded.buffer!, 0);
    expect(restored.size).toBe(2);
    const record = restored.apply(loaded.model!, new WeightedAverage('FedAvg', 0), 1, 1);
    expect(record.participants).toEqual(['a', 'b']);
    expect([...loaded.model![0]!.data]).toEqual([0.5, 0.5]);
    expect(restored.size).toBe(1);
    expect(restored.sites()).toEqual(['c']);
  });

  it('comes back from the checkpoint with the same sum, bit for bit, and the same versions', async () => {
    const global = model(0.1, 0.2, 0.3);
    const buffer = new UpdateBuffer(SPEC, global, 4, null, 0);
    const strategy = new WeightedAverage('FedAvg', 0);
    buffer.add(entry('a', 7), 0, [Float32Array.of(1, 2, 3)]);
    buffer.add(entry('b', 5), 0, [Float32Array.of(-1, 0.5, 0)]);
    buffer.apply(global, strategy, 1, 10);
    buffer.add(entry('c', 3), 0, [Float32Array.of(0.7, 0.1, -0.2)]);
    const store = new CheckpointStore(dir, 'ns/job');
    await store.save({ position: { phase: 'TRAIN', round: 2 }, outcome: null, statistics: null, history: [], finalEvaluation: null, model: global, optimizer: [], buffer: buffer.state({ a: 1, b: 1, c: 2 }) });
    const loaded = (await new CheckpointStore(dir, 'ns/job').load())!;
    expect(loaded.buffer!.lastRound).toEqual({ a: 1, b: 1, c: 2 });
    const restored = new UpdateBuffer(SPEC, loaded.model!, 4, loaded.buffer!, 0);
    expect(restored.size).toBe(1);
    expect([...restored.base(0)![0]!.data]).toEqual([...Float32Array.of(0.1, 0.2, 0.3)]);
    const other = loaded.model!;
    for (const [b, w] of [
      [buffer, global],
      [restored, other],
    ] as const) {
      b.add(entry('a', 2), 1, [Float32Array.of(2, 2, 2)]);
      b.apply(w, strategy, 2, 20);
    }
    expect(Buffer.from(other[0]!.data.buffer).equals(Buffer.from(global[0]!.data.buffer))).toBe(true);
  });
});

describe('BufferedRoundState', () => {
  const sites = ['a', 'b', 'c'];
  let version = 0;
  let buffered: string[] = [];
  const state = () =>
    new BufferedRoundState(
      { sites, rounds: 3, minSites: 1, deadlineMs: 60_000, heartbeatTimeoutMs: 10_000, maxRoundRetries: 1, statistics: false, select: () => sites },
      { bufferSize: 2, maxStaleness: 1, version: () => version, buffered: () => buffered.length, bufferedSites: () => buffered, seal: () => {} },
      new Map(),
      new Map(),
      { phase: 'TRAIN', round: 1 },
      0,
    );
  const refusal = (fn: () => void): Refusal => {
    try {
      fn();
    } catch (err) {
      if (err instanceof Refusal) return err;
      throw err;
    }
    throw new Error('expected a refusal');
  };
  beforeEach(() => {
    version = 0;
    buffered = [];
  });

  it('hands every site work at once, one update per site per version, and closes on a full buffer', () => {
    const rounds = state();
    expect(sites.map((s) => rounds.nextStep(s, 1).kind)).toEqual(['TRAIN', 'TRAIN', 'TRAIN']);
    rounds.admit('a', 'TRAIN', 1, 0, 1);
    rounds.accept('a', 2);
    buffered.push('a');
    // Its update for version 1 is in: a waits for the version to move; a replay is refused.
    expect(rounds.nextStep('a', 3)).toEqual({ kind: 'WAIT' });
    expect(refusal(() => rounds.admit('a', 'TRAIN', 1, 0, 3)).code).toBe(status.ALREADY_EXISTS);
    expect(rounds.tick(3)).toBeNull();
    rounds.admit('b', 'TRAIN', 1, 0, 4);
    rounds.accept('b', 4);
    buffered.push('b');
    expect(rounds.tick(5)).toMatchObject({ kind: 'close', phase: 'TRAIN', round: 1, participants: ['a', 'b'] });
    // c's upload goes on while version 1 is made, and lands after.
    rounds.admit('c', 'TRAIN', 1, 0, 5);
    version = 1;
    buffered = [];
    rounds.advance(6);
    expect(rounds.position).toMatchObject({ phase: 'TRAIN', round: 2, closing: false });
    rounds.accept('c', 7);
    expect(rounds.nextStep('a', 7)).toMatchObject({ kind: 'TRAIN', round: 2 });
    expect(rounds.nextStep('c', 7)).toMatchObject({ kind: 'TRAIN', round: 2 });
  });

  it('answers a re-sent update (its answer was lost) as taken without counting it again, and refuses a different one', () => {
    const rounds = state();
    rounds.admit('a', 'TRAIN', 1, 0, 1);
    rounds.accept('a', 2, 'digest-1');
    rounds.admit('a', 'TRAIN', 1, 0, 3);
    expect(rounds.isReplay('a')).toBe(true);
    rounds.accept('a', 4, 'digest-1');
    rounds.admit('a', 'TRAIN', 1, 0, 5);
    expect(refusal(() => rounds.accept('a', 6, 'digest-2')).reason).toBe('duplicate');
    expect(rounds.lastDigests()).toEqual({ a: 'digest-1' });
  });

  it('refuses an update once the last version is decided: no buffer after it would be applied', () => {
    const rounds = state();
    rounds.admit('a', 'TRAIN', 1, 0, 1);
    // The buffer of version 3 (the job's last) is sealed: the buffer folds onto version 3 now.
    version = 3;
    expect(refusal(() => rounds.accept('a', 2, 'digest')).message).toMatch(/the job made its last version \(3\)/);
  });

  it('refuses an update more than maxStaleness versions behind, at admission and again at acceptance', () => {
    const rounds = state();
    rounds.admit('a', 'TRAIN', 1, 0, 1);
    version = 2;
    const late = refusal(() => rounds.accept('a', 2));
    expect(late.code).toBe(status.FAILED_PRECONDITION);
    expect(late.message).toMatch(/trained on version 0 and the model is at version 2: staleness 2 is above maxStaleness 1/);
    expect(refusal(() => rounds.admit('b', 'TRAIN', 1, 0, 3)).reason).toBe('stale_round');
  });

  it('past the deadline makes a version from what is buffered (at least minSites), and extends the wait when nothing is', () => {
    const rounds = state();
    expect(rounds.tick(60_001)).toBeNull();
    expect(rounds.position.closing).toBe(false);
    buffered = ['a'];
    // The extended deadline: one more roundDeadlineSeconds.
    expect(rounds.tick(120_000)).toBeNull();
    expect(rounds.tick(120_002)).toMatchObject({ kind: 'close', participants: ['a'] });
  });
});
