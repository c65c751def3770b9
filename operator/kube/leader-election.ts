import type * as k8s from '@kubernetes/client-node';

import { createLogger, type Logger } from '../log.js';
import { isAlreadyExists, isConflict, isNotFound, kubeRequest } from './request.js';

export interface LeaderElectionConfig {
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** This process (its pod name); unique among the candidates. */
  identity: string;
  /** How long a standby waits on an unrenewed lease before taking it. Default 15. */
  leaseDurationSeconds?: number;
  /** How long the leader keeps trying to renew before it steps down. Default 10. */
  renewDeadlineSeconds?: number;
  /** How often to try to acquire or renew. Default 2. */
  retryPeriodSeconds?: number;
  logger?: Logger;
}

export interface LeaderCallbacks {
  /**
   * Now leading: start the work, and stop it when `signal` aborts. If it returns a promise, release()
   * waits for it (still renewing the lease) before handing over, so in-flight work can drain.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** No longer leading (lost, or released). After a loss the process should exit. */
  onStoppedLeading(): void;
  /** A leader was observed (another process, or this one). */
  onNewLeader?(identity: string): void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** A rival is seen to hold the lease: stop leading now rather than at the renew deadline. */
class LeaseTaken extends Error {}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it. Every
 * write carries the resourceVersion read just before, so of two candidates racing for the lease one
 * gets 409 Conflict and loses. A standby judges expiry by its own clock, from when it last saw the
 * lease change, never by comparing its clock with the leader's renewTime.
 */
export class LeaderElector {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly path: string;
  private readonly log: Logger;
  /** The lease as last read or written, and when (monotonic ms) it was first seen in that state. */
  private observed: { lease: Lease; at: number } | undefined;
  private leading = false;
  /** When (monotonic ms) the last successful claim of the lease was sent. */
  private renewedAt = 0;
  private releasing = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private lastLeader: string | undefined;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly config: LeaderElectionConfig,
  ) {
    this.leaseMs = (config.leaseDurationSeconds ?? 15) * 1000;
    this.renewDeadlineMs = (config.renewDeadlineSeconds ?? 10) * 1000;
    this.retryMs = (config.retryPeriodSeconds ?? 2) * 1000;
    if (!(this.leaseMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryMs * 1.2)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > 1.2 * retryPeriod');
    }
    if (!Number.isInteger(this.leaseMs / 1000)) throw new Error('leaseDurationSeconds must be whole seconds');
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${config.namespace}/leases`;
    this.log =
      config.logger ??
      createLogger('leader-election', { lease: `${config.namespace}/${config.name}`, identity: config.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the lease ('' when released or never seen). */
  currentLeader(): string {
    return this.observed?.lease.spec?.holderIdentity ?? '';
  }

  /**
   * Campaigns until this process leads, leads until it loses the lease or release() is called, then
   * resolves. Call it once.
   */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run() called twice');
    this.running = this.campaign(callbacks);
    return this.running;
  }

  /**
   * Graceful hand-over: stops the work (aborts the signal), waits for onStartedLeading's promise while
   * still renewing, then empties the lease (no holder, 1 s duration) so a standby takes over at its
   * next try, calls onStoppedLeading and resolves. A process that is not leading just stops campaigning.
   */
  async release(): Promise<void> {
    this.releasing = true;
    this.wake?.();
    await this.running;
  }

  private async campaign(callbacks: LeaderCallbacks): Promise<void> {
    while (!this.releasing && !(await this.tryAcquireOrRenew(callbacks).catch((e: unknown) => this.failed(e)))) {
      await this.sleep(this.retryMs * (1 + Math.random() * 0.2));
    }
    if (this.releasing) return;

    this.leading = true;
    this.log.info('became leader');
    const stop = new AbortController();
    let work: Promise<void> | undefined;
    try {
      work = Promise.resolve(callbacks.onStartedLeading(stop.signal)).catch((error: unknown) => {
        this.log.error('leader work failed', { error: error instanceof Error ? error.message : String(error) });
      });
    } catch (error) {
      this.log.error('onStartedLeading threw', { error: error instanceof Error ? error.message : String(error) });
    }

    let outcome = await this.holdLease(callbacks, () => this.releasing);
    stop.abort();
    if (outcome === 'released') {
      let drained = work === undefined;
      void work?.finally(() => (drained = true));
      // Keep the lease while the work drains, so no other leader starts beside it.
      outcome = await this.holdLease(callbacks, () => drained, work);
      if (outcome === 'released') await this.giveUpLease().catch((e: unknown) => this.failed(e));
    }
    this.leading = false;
    this.log.info(outcome === 'lost' ? 'lost the lease; stepping down' : 'released the lease');
    callbacks.onStoppedLeading();
  }

  /** Renews every retry period until done() or the renew deadline passes without a renewal. */
  private async holdLease(
    callbacks: LeaderCallbacks,
    done: () => boolean,
    wakeOn?: Promise<void>,
  ): Promise<'lost' | 'released'> {
    void wakeOn?.finally(() => this.wake?.());
    const remaining = () => this.renewDeadlineMs - (performance.now() - this.renewedAt);
    for (;;) {
      if (done()) return 'released';
      // Wake at the deadline at the latest, so the step-down is not late by a retry period.
      await this.sleep(Math.max(0, Math.min(this.retryMs, remaining())));
      if (done()) return 'released';
      if (remaining() <= 0) return 'lost';
      try {
        // A renewal still in flight at the deadline must not count: it may land after a rival took over.
        await this.tryAcquireOrRenew(callbacks, remaining());
      } catch (error) {
        if (error instanceof LeaseTaken) return 'lost';
        this.failed(error);
      }
      if (remaining() <= 0) return 'lost';
    }
  }

  /** One attempt: true if this process holds the lease afterwards. */
  private async tryAcquireOrRenew(callbacks: LeaderCallbacks, timeoutMs = this.renewDeadlineMs): Promise<boolean> {
    const now = new Date();
    const attemptAt = performance.now();
    let lease: Lease;
    try {
      lease = await kubeRequest<Lease>(this.kc, { method: 'GET', path: `${this.path}/${this.config.name}`, timeoutMs });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const created = await this.write('POST', this.path, this.record(now, undefined), timeoutMs);
      if (created) this.renewedAt = attemptAt;
      return created !== undefined;
    }
    this.observe(lease, callbacks);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    if (holder && holder !== this.config.identity && !this.expired()) {
      if (this.leading) throw new LeaseTaken();
      return false;
    }
    const written = await this.write('PUT', `${this.path}/${this.config.name}`, this.record(now, lease), timeoutMs);
    if (written) this.renewedAt = attemptAt;
    return written !== undefined;
  }

  /** This process's claim: renewing keeps acquireTime, taking over counts a transition. */
  private record(now: Date, current: Lease | undefined): Lease {
    const spec = current?.spec ?? {};
    const renewing = spec.holderIdentity === this.config.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.config.name,
        namespace: this.config.namespace,
        resourceVersion: current?.metadata.resourceVersion,
      },
      spec: {
        holderIdentity: this.config.identity,
        leaseDurationSeconds: this.leaseMs / 1000,
        acquireTime: renewing && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (current && !renewing ? 1 : 0),
      },
    };
  }

  /** Writes the lease; undefined if another candidate wrote first (409). */
  private async write(
    method: 'POST' | 'PUT',
    path: string,
    lease: Lease,
    timeoutMs: number,
  ): Promise<Lease | undefined> {
    try {
      const written = await kubeRequest<Lease>(this.kc, { method, path, body: lease, timeoutMs });
      this.observed = { lease: written, at: performance.now() };
      return written;
    } catch (error) {
      if (isConflict(error) || isAlreadyExists(error)) return undefined;
      throw error;
    }
  }

  private observe(lease: Lease, callbacks: LeaderCallbacks): void {
    if (this.observed?.lease.metadata.resourceVersion !== lease.metadata.resourceVersion) {
      this.observed = { lease, at: performance.now() };
    }
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder && holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder !== this.config.identity) this.log.info('observed a new leader', { leader: holder });
      callbacks.onNewLeader?.(holder);
    }
  }

  /** Whether the observed lease ran out, measured by our clock since we saw it change. */
  private expired(): boolean {
    if (!this.observed) return true;
    const seconds = this.observed.lease.spec?.leaseDurationSeconds ?? this.leaseMs / 1000;
    return performance.now() - this.observed.at > seconds * 1000;
  }

  /** Empties the lease if still ours, so that a standby need not wait out the lease duration. */
  private async giveUpLease(): Promise<void> {
    const lease = this.observed?.lease;
    if (!lease || lease.spec?.holderIdentity !== this.config.identity) return;
    const now = microTime(new Date());
    const released: Lease = {
      ...lease,
      spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
    };
    await this.write('PUT', `${this.path}/${this.config.name}`, released, this.retryMs);
  }

  private failed(error: unknown): false {
    this.log.warn('could not acquire or renew the lease', {
      error: error instanceof Error ? error.message : String(error),
    });
    return false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(time: Date): string {
  return time.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
