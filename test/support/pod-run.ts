/**
 * One pod's life under the process kubelet: its volumes made, each container started as a local
 * process (see container-command.ts for the mapping), restarted per restartPolicy with a short
 * backoff, probed for readiness, and stopped with SIGTERM then SIGKILL after the grace period.
 * Every change is published as the pod's status, as a kubelet reports it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import path from 'node:path';
import type { PodObject } from './process-kubelet.js';
import type { CoreV1Api, V1Container } from '@kubernetes/client-node';
import { processSpec, UnrunnableContainer, type ProcessSpec } from './container-command.js';
import { containerEnv, type PodAddresses } from './container-env.js';
import { hostMounts, materializeVolumes, RetryLater } from './pod-volumes.js';
import { probeOnce, type ProbeTarget } from './readiness-probe.js';
import { podStatus, type ContainerState } from './pod-status.js';

export interface PodRunContext {
  core: CoreV1Api;
  /** The kubelet's root folder (claims live under it). */
  root: string;
  podDir: string;
  addresses: PodAddresses;
  baseEnv: Record<string, string>;
  isFlotillaImage(image: string): boolean;
  flotilla: string[];
  /** Publishes the pod's status (the kubelet writes the latest one, in order). */
  publish(status: Record<string, unknown>): void;
}

const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 10_000;
/** A container that ran this long before it exited restarts without backoff. */
const BACKOFF_RESET_MS = 10_000;
const RETRY_MISSING_SOURCE_MS = 1_000;

interface ContainerRun {
  container: V1Container;
  state: ContainerState;
  child?: ChildProcess;
  exited?: Promise<void>;
  restartTimer?: NodeJS.Timeout;
  probeTimer?: NodeJS.Timeout;
  backoffMs: number;
}

export class PodRun {
  private readonly runs: ContainerRun[];
  private readonly startTime = new Date().toISOString();
  private readonly transitions = new Map<string, { status: string; time: string }>();
  private stopping = false;
  private waitingMessage: { reason: string; message: string } | undefined = { reason: 'ContainerCreating', message: '' };

  constructor(
    readonly pod: PodObject,
    private readonly ctx: PodRunContext,
  ) {
    this.runs = pod.spec!.containers.map((container) => ({
      container,
      state: { name: container.name, image: container.image ?? '', restartCount: 0, ready: false, waiting: { reason: 'ContainerCreating' } },
      backoffMs: BACKOFF_START_MS,
    }));
  }

  get podIP(): string {
    return this.ctx.addresses.podIP;
  }

  /** Whether every container runs and passes its readiness probe. */
  get ready(): boolean {
    return !this.stopping && this.runs.every((r) => r.child && r.state.ready);
  }

  /** The file that holds a container's output. */
  logFile(container: string): string {
    return path.join(this.ctx.podDir, `${container}.log`);
  }

  start(): void {
    this.publish();
    void this.prepare();
  }

  /** Sends a signal to every container's process group (SIGSTOP and SIGCONT freeze and thaw the pod). */
  signal(sig: NodeJS.Signals): void {
    for (const run of this.runs) signal(run.child, sig);
  }

  /** SIGTERM every process, SIGKILL what is left after the grace period; resolves when all are gone. */
  async stop(graceSeconds: number): Promise<void> {
    this.stopping = true;
    for (const run of this.runs) {
      clearTimeout(run.restartTimer);
      clearTimeout(run.probeTimer);
      signal(run.child, 'SIGTERM');
    }
    const timer = setTimeout(() => this.runs.forEach((r) => signal(r.child, 'SIGKILL')), graceSeconds * 1000);
    await Promise.all(this.runs.map((r) => r.exited));
    clearTimeout(timer);
  }

  private async prepare(): Promise<void> {
    const specs = new Map<string, ProcessSpec>();
    while (!this.stopping) {
      try {
        await mkdir(this.ctx.podDir, { recursive: true });
        const folders = await materializeVolumes(this.ctx.core, this.pod, this.ctx.addresses, this.ctx.root, this.ctx.podDir);
        for (const { container } of this.runs) {
          const probe = container.readinessProbe;
          if (probe && !probe.httpGet && !probe.tcpSocket) {
            throw new UnrunnableContainer(`container ${container.name}: only httpGet and tcpSocket readiness probes can be run by the process kubelet`);
          }
          const env = await containerEnv(this.ctx.core, this.pod, container, this.ctx.addresses, { ...this.ctx.baseEnv, HOSTNAME: this.pod.metadata!.name! });
          specs.set(
            container.name,
            processSpec(container, {
              isFlotillaImage: this.ctx.isFlotillaImage,
              flotilla: this.ctx.flotilla,
              env,
              mounts: hostMounts(container.volumeMounts ?? [], folders),
              podIP: this.ctx.addresses.podIP,
              defaultCwd: this.ctx.podDir,
            }),
          );
        }
        await this.checkPorts();
        break;
      } catch (err) {
        const permanent = err instanceof UnrunnableContainer;
        const transient = err instanceof RetryLater;
        this.waitingMessage = { reason: permanent ? 'CreateContainerConfigError' : 'ContainerCreating', message: (err as Error).message };
        for (const run of this.runs) run.state.waiting = { ...this.waitingMessage };
        this.publish();
        if (permanent) return;
        if (!transient) throw err;
        await new Promise((r) => setTimeout(r, RETRY_MISSING_SOURCE_MS));
      }
    }
    this.waitingMessage = undefined;
    for (const run of this.runs) if (!this.stopping) this.launch(run, specs.get(run.container.name)!);
  }

  /**
   * Processes share the host's network: a process elsewhere listening on a pod's port on every
   * address (0.0.0.0:9090) takes that port on every pod IP too. Say so rather than let the pod's
   * process fail to bind while probes reach the stranger.
   */
  private async checkPorts(): Promise<void> {
    for (const { container } of this.runs) {
      for (const { containerPort } of container.ports ?? []) {
        if (!(await portFree(this.ctx.addresses.podIP, containerPort))) {
          throw new RetryLater(`port ${containerPort} is taken on this machine by another process (listening on every address?)`);
        }
      }
    }
  }

  private launch(run: ContainerRun, spec: ProcessSpec): void {
    const log = createWriteStream(this.logFile(run.container.name), { flags: 'a' });
    // Own process group: a container's children (a trainer) die with it.
    const child = spawn(spec.executable, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const startedAt = new Date();
    run.child = child;
    run.state = { ...run.state, waiting: undefined, running: { startedAt: startedAt.toISOString() }, terminated: undefined, ready: !run.container.readinessProbe };
    run.exited = new Promise((resolve) => {
      child.once('error', (err) => log.write(`process kubelet: cannot start: ${err.message}\n`));
      child.once('close', (code, sig) => {
        log.end();
        this.onExit(run, spec, startedAt, code ?? (sig ? 128 + signalNumber(sig) : 1), sig);
        resolve();
      });
    });
    if (run.container.readinessProbe) this.scheduleProbe(run, run.container.readinessProbe.initialDelaySeconds ?? 0, 0, 0);
    this.publish();
  }

  private onExit(run: ContainerRun, spec: ProcessSpec, startedAt: Date, exitCode: number, sig: NodeJS.Signals | null): void {
    clearTimeout(run.probeTimer);
    run.child = undefined;
    const terminated = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : sig === 'SIGKILL' ? 'Killed' : 'Error',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ...(sig ? { signal: signalNumber(sig) } : {}),
    };
    const policy = this.pod.spec!.restartPolicy ?? 'Always';
    const restart = !this.stopping && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
    if (!restart) {
      run.state = { ...run.state, running: undefined, ready: false, terminated };
      this.publish();
      return;
    }
    if (Date.now() - startedAt.getTime() >= BACKOFF_RESET_MS) run.backoffMs = BACKOFF_START_MS;
    run.state = { ...run.state, running: undefined, ready: false, lastTerminated: terminated, waiting: { reason: 'CrashLoopBackOff', message: `back-off ${run.backoffMs / 1000}s restarting failed container` } };
    run.state.restartCount += 1;
    this.publish();
    run.restartTimer = setTimeout(() => !this.stopping && this.launch(run, spec), run.backoffMs);
    run.backoffMs = Math.min(run.backoffMs * 2, BACKOFF_MAX_MS);
  }

  private scheduleProbe(run: ContainerRun, delaySeconds: number, successes: number, failures: number): void {
    const probe = run.container.readinessProbe!;
    run.probeTimer = setTimeout(async () => {
      if (!run.child || this.stopping) return;
      const ok = await probeOnce(probe, this.probeTarget(run.container));
      const [s, f] = ok ? [successes + 1, 0] : [0, failures + 1];
      const ready = ok ? run.state.ready || s >= (probe.successThreshold ?? 1) : run.state.ready && f < (probe.failureThreshold ?? 3);
      if (ready !== run.state.ready && run.child) {
        run.state = { ...run.state, ready };
        this.publish();
      }
      if (run.child) this.scheduleProbe(run, probe.periodSeconds ?? 10, s, f);
    }, delaySeconds * 1000);
  }

  private probeTarget(container: V1Container): ProbeTarget {
    return { host: this.ctx.addresses.podIP, ports: new Map((container.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort])) };
  }

  private publish(): void {
    this.ctx.publish(podStatus({ addresses: this.ctx.addresses, startTime: this.startTime, containers: this.runs.map((r) => r.state), waiting: this.waitingMessage, transitions: this.transitions }));
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function signal(child: ChildProcess | undefined, sig: NodeJS.Signals): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // ESRCH: already gone.
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 0;
}
