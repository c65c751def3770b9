import type { Registry } from 'prom-client';

import { createLogger, type Logger } from '../log.js';
import { reconcileMetrics } from './reconcile-metrics.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A keyed work queue in the manner of client-go's: a key waiting to be processed is queued once
 * however often it is added; a key is never handed to two workers at once (a key added while it is
 * being processed is queued again when done() is called); failures back off per key.
 */
export interface WorkQueueOptions {
  /** First retry delay of addRateLimited (default 5 ms), doubled per consecutive failure... */
  baseDelayMs?: number;
  /** ...up to this (default 5 min). */
  maxDelayMs?: number;
}

export class WorkQueue {
  /** Keys waiting for a worker, in order; a Set keeps one entry per key. */
  private readonly queued = new Set<string>();
  /** Keys that need processing: queued, or added again while being processed. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly delayed = new Map<string, { readyAt: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private shuttingDown = false;
  private drained: (() => void) | undefined;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it again
    const waiter = this.waiters.shift();
    if (waiter) waiter(this.take(key));
    else this.queued.add(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the key wins over a later one. */
  addAfter(key: string, requestedMs: number): void {
    if (this.shuttingDown) return;
    if (requestedMs <= 0) return this.add(key);
    // Node fires a timer longer than 2^31-1 ms after 1 ms: cap it (the key is simply looked at again).
    const delayMs = Math.min(requestedMs, MAX_TIMER_MS);
    const readyAt = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.delayed.set(key, { readyAt, timer });
  }

  /** Adds the key after its backoff: base delay doubled for every failure since the last forget(). */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.addAfter(key, Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs));
  }

  /** Resets the key's backoff (after a success or a terminal error). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Failures of the key since its last forget(). */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process; waits for one. Undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const next = this.queued.values().next();
    if (!next.done) {
      this.queued.delete(next.value);
      return Promise.resolve(this.take(next.value));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.shuttingDown) {
      if (this.processing.size === 0) this.drained?.();
      return;
    }
    if (this.dirty.has(key)) {
      this.dirty.delete(key); // add() below marks it again
      this.add(key);
    }
  }

  /** Keys waiting for a worker. */
  len(): number {
    return this.queued.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops handing out keys: get() resolves undefined from now on, waiting keys are dropped (reconciles
   * are level-triggered: whoever runs next lists everything anyway), new adds are ignored.
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queued.clear();
    this.dirty.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  /** shutDown(), then waits until every key being processed is done(). */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }
}

/** What a reconcile asks for when it succeeded: nothing, or another pass after a while. */
export type ReconcileResult = { requeueAfterMs?: number } | void;

/** An error retrying cannot fix (an invalid spec, say): logged, not retried until the key is added again. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

/** True for a TerminalError, or an error caused (through `cause`) by one. */
export function isTerminal(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof TerminalError) return true;
  }
  return false;
}

export interface RunWorkersOptions {
  /** Names the controller in logs and metrics. */
  controller: string;
  /** Where flotilla_reconcile_* and flotilla_workqueue_* are registered. */
  registry?: Registry;
  logger?: Logger;
}

/**
 * Runs `concurrency` workers taking keys from the queue until it shuts down; resolves when every
 * worker has finished its current reconcile and stopped. A thrown error backs the key off; a
 * TerminalError is logged and dropped; success forgets the key's backoff and honours requeueAfterMs.
 */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  reconcile: (key: string) => Promise<ReconcileResult>,
  options: RunWorkersOptions,
): Promise<void> {
  const { controller } = options;
  const log = options.logger ?? createLogger('controller', { controller });
  const metrics = options.registry ? reconcileMetrics(options.registry) : undefined;
  const unwatchDepth = metrics?.watchDepth(controller, () => queue.len());
  // From zero, so that rate() sees the first retry.
  metrics?.retries.inc({ controller }, 0);

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const stopTimer = metrics?.duration.startTimer({ controller });
      let result: 'success' | 'error' | 'requeue' | 'terminal';
      try {
        const outcome = await reconcile(key);
        queue.forget(key);
        const requeueAfterMs = outcome?.requeueAfterMs;
        if (requeueAfterMs !== undefined && requeueAfterMs > 0) {
          queue.addAfter(key, requeueAfterMs);
          result = 'requeue';
        } else {
          result = 'success';
        }
      } catch (error) {
        if (isTerminal(error)) {
          queue.forget(key);
          log.error('reconcile failed; not retrying', { key, error: describe(error) });
          result = 'terminal';
        } else {
          queue.addRateLimited(key);
          metrics?.retries.inc({ controller });
          log.error('reconcile failed; will retry', { key, retries: queue.numRequeues(key), error: describe(error) });
          result = 'error';
        }
      } finally {
        stopTimer?.();
        queue.done(key);
      }
      metrics?.total.inc({ controller, result });
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  } finally {
    unwatchDepth?.();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
