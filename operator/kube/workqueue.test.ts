import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { Registry } from 'prom-client';

import { createLogger } from '../log.js';
import { TerminalError, WorkQueue, runWorkers, type ReconcileResult } from './workqueue.js';

const quiet = createLogger('workqueue-test');
quiet.silent = true;

/** Resolves whether the promise settles before the microtask queue runs dry. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(2);
  }
}

describe('WorkQueue', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('repeated adds of a key collapse into one item, in first-add order', async () => {
    const q = new WorkQueue();
    for (const key of ['a', 'b', 'a', 'a', 'c', 'b']) q.add(key);
    expect(q.len()).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'b', 'c']);
    expect(q.len()).toBe(0);
  });

  test('a key added while processed waits for done(), then comes back exactly once', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    const second = q.get();
    expect(await settled(second)).toBe(false); // not handed out while 'a' is processing
    q.done('a');
    expect(await second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
    expect(await settled(q.get())).toBe(false);
  });

  test('a delay beyond what a Node timer holds waits, instead of firing at once', async () => {
    const queue = new WorkQueue();
    queue.addAfter('renew-certificate', 60 * 24 * 3600 * 1000); // 60 days
    // Node fires timers in order of expiry: had the delay overflowed to 1 ms, it would have fired first.
    await sleep(20);
    expect(queue.len()).toBe(0);
    queue.shutDown();
  });

  test('a waiting get() receives the next add', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  test('addAfter delays the key; the earlier of two pending delays wins', async () => {
    jest.useFakeTimers();
    const q = new WorkQueue();
    q.addAfter('a', 1_000);
    q.addAfter('a', 5_000); // later: ignored
    q.addAfter('b', 5_000);
    q.addAfter('b', 2_000); // earlier: replaces
    jest.advanceTimersByTime(999);
    expect(q.len()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    jest.advanceTimersByTime(1_000);
    expect(q.len()).toBe(2);
    jest.advanceTimersByTime(10_000);
    expect(q.len()).toBe(2); // nothing fires twice
    expect([await q.get(), await q.get()]).toEqual(['a', 'b']);
  });

  test('per-key backoff doubles from 5 ms to a 5 min ceiling; forget() resets it', async () => {
    jest.useFakeTimers();
    const q = new WorkQueue();
    /** The next failure of `key` queues it again after exactly `ms`. */
    const expectBackoff = async (key: string, ms: number) => {
      q.addRateLimited(key);
      jest.advanceTimersByTime(ms - 1);
      expect(q.len()).toBe(0);
      jest.advanceTimersByTime(1);
      expect(q.len()).toBe(1);
      q.done((await q.get())!);
    };
    for (const ms of [5, 10, 20, 40, 80, 160]) await expectBackoff('a', ms);
    for (let failures = 6; failures < 16; failures++) q.addRateLimited('a'); // 320 ms ... 163.84 s, never awaited
    jest.advanceTimersByTime(400_000);
    q.done((await q.get())!);
    await expectBackoff('a', 300_000); // 5 ms * 2^16 would be 327.68 s
    await expectBackoff('a', 300_000);
    expect(q.numRequeues('a')).toBe(18);
    // Keys back off independently.
    await expectBackoff('b', 5);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    await expectBackoff('a', 5);
  });

  test('shutDown releases waiting workers, drops queued and delayed keys, ignores new ones', async () => {
    jest.useFakeTimers();
    const q = new WorkQueue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    q.add('a');
    q.addAfter('b', 10);
    jest.advanceTimersByTime(100);
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  test('shutDownWithDrain resolves once the keys in flight are done', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('c');
    const [a, b] = [await q.get(), await q.get()];
    const drained = q.shutDownWithDrain();
    expect(await q.get()).toBeUndefined(); // 'c' is not handed out any more
    q.done(a!);
    expect(await settled(drained)).toBe(false);
    q.done(b!);
    expect(await settled(drained)).toBe(true);
    expect(await settled(new WorkQueue().shutDownWithDrain())).toBe(true);
  });
});

describe('runWorkers', () => {
  async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
    const found = (await registry.getSingleMetric(name)?.get())?.values.find((v) =>
      Object.entries(labels).every(([k, value]) => v.labels[k] === value),
    );
    return found?.value ?? 0;
  }

  test('never reconciles one key twice at once, collapses bursts, and uses up to `concurrency` workers', async () => {
    const q = new WorkQueue();
    const running = new Set<string>();
    let overlaps = 0;
    let maxParallel = 0;
    const calls = new Map<string, number>();
    // The first reconciles are held until the test has seen all three workers busy.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const reconcile = async (key: string) => {
      if (running.has(key)) overlaps++;
      running.add(key);
      maxParallel = Math.max(maxParallel, running.size);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      await held;
      running.delete(key);
    };
    const workers = runWorkers(q, 3, reconcile, { controller: 'burst', logger: quiet });
    for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) q.add(key);
    await until(() => running.size === 3); // all busy on k0..k2
    expect([...running].sort()).toEqual(['k0', 'k1', 'k2']);
    for (let i = 0; i < 50; i++) q.add('k0'); // 50 events during k0's reconcile: one more pass
    release();
    // Nothing is left queued or running, so no further pass can come.
    await until(() => q.len() === 0 && running.size === 0 && [...calls.values()].reduce((a, b) => a + b, 0) >= 6);
    q.shutDown();
    await workers;
    expect(overlaps).toBe(0);
    expect(maxParallel).toBe(3);
    expect(Object.fromEntries(calls)).toEqual({ k0: 2, k1: 1, k2: 1, k3: 1, k4: 1 });
  });

  test('errors retry with backoff until success; terminal errors are not retried; metrics count each', async () => {
    const registry = new Registry();
    const q = new WorkQueue({ baseDelayMs: 2 });
    const attempts = new Map<string, number[]>();
    const reconcile = async (key: string): Promise<ReconcileResult> => {
      const times = attempts.get(key) ?? [];
      times.push(Date.now());
      attempts.set(key, times);
      if (key === 'flaky' && times.length <= 4) throw new Error('API server unavailable');
      if (key === 'invalid') throw new TerminalError('spec.rounds must be positive');
      if (key === 'wrapped') throw new Error('could not build the job', { cause: new TerminalError('bad image') });
    };
    const workers = runWorkers(q, 2, reconcile, { controller: 'jobs', registry, logger: quiet });
    q.add('flaky');
    q.add('invalid');
    q.add('wrapped');
    // The fifth attempt comes after 2 + 4 + 8 + 16 ms of backoff; a wrongful retry of a terminal key
    // (2 ms) would have fired before it, timers firing in order of expiry.
    await until(() => (attempts.get('flaky')?.length ?? 0) === 5);
    q.shutDown();
    await workers;

    const flaky = attempts.get('flaky')!;
    const gaps = flaky.slice(1).map((t, i) => t - flaky[i]!);
    // 2, 4, 8, then 16 ms, give or take a millisecond: Node's timers count from the event loop's clock.
    expect(gaps[3]!).toBeGreaterThanOrEqual(15);
    expect(attempts.get('invalid')).toHaveLength(1);
    expect(attempts.get('wrapped')).toHaveLength(1);
    expect(q.numRequeues('flaky')).toBe(0); // success forgot the backoff
    expect(await metric(registry, 'flotilla_reconcile_total', { controller: 'jobs', result: 'error' })).toBe(4);
    expect(await metric(registry, 'flotilla_reconcile_total', { controller: 'jobs', result: 'success' })).toBe(1);
    expect(await metric(registry, 'flotilla_reconcile_total', { controller: 'jobs', result: 'terminal' })).toBe(2);
    expect(await metric(registry, 'flotilla_reconcile_duration_seconds', { controller: 'jobs', le: '+Inf' })).toBe(7);
    // The four failures of 'flaky' were put back; terminal errors were not.
    expect(await metric(registry, 'flotilla_workqueue_retries_total', { controller: 'jobs' })).toBe(4);
  });

  test('requeueAfterMs brings the key back after the delay and counts as a requeue', async () => {
    const registry = new Registry();
    const q = new WorkQueue();
    const times: number[] = [];
    const reconcile = async (): Promise<ReconcileResult> => {
      times.push(Date.now());
      return times.length < 3 ? { requeueAfterMs: 40 } : undefined;
    };
    const workers = runWorkers(q, 1, reconcile, { controller: 'poll', registry, logger: quiet });
    q.add('job');
    await until(() => times.length === 3);
    q.shutDown();
    await workers;
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(39);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(39);
    expect(await metric(registry, 'flotilla_reconcile_total', { controller: 'poll', result: 'requeue' })).toBe(2);
    expect(await metric(registry, 'flotilla_reconcile_total', { controller: 'poll', result: 'success' })).toBe(1);
  });

  test('the depth gauge reports waiting keys per controller; shutdown waits for reconciles in flight', async () => {
    const registry = new Registry();
    const q = new WorkQueue();
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    let finished = 0;
    const workers = runWorkers(
      q,
      1,
      async () => {
        started++;
        await blocked;
        finished++;
      },
      { controller: 'sites', registry, logger: quiet },
    );
    for (const key of ['a', 'b', 'c', 'd']) q.add(key);
    await until(() => started === 1); // the worker holds 'a'
    expect(await metric(registry, 'flotilla_workqueue_depth', { controller: 'sites' })).toBe(3);
    const drained = q.shutDownWithDrain();
    expect(await settled(workers)).toBe(false);
    release();
    await drained;
    await workers;
    expect(finished).toBe(1); // 'a' finished; b..d were dropped at shutdown
    expect(await metric(registry, 'flotilla_workqueue_depth', { controller: 'sites' })).toBe(0);
  });
});
