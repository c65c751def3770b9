/**
 * A role of the built CLI kept running as a Kubernetes pod with restartPolicy Always would be:
 * killed by a signal, it is started again with the same arguments, environment and volume (its
 * folders); it is done once it exits on its own. Each start may carry one fault: a fault point
 * armed in the new process (FLOTILLA_FAULT_POINT), and a SIGKILL after a delay should the point not
 * be reached (alone, that is a kill at a random moment).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startRole, type RoleProcess } from '../../operator/simulate/processes.js';

export interface Fault {
  /** A fault point NAME[@N] at which the process kills itself. */
  point?: string;
  /** SIGKILL after this long, if the process is still alive. */
  killAfterMs: number;
}

export interface RestartingRoleOptions {
  name: string;
  args: string[];
  logDir: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Faults for the next starts, one per start, taken in order; or a function asked at each start. */
  faults?: Fault[] | (() => Fault | null);
  /**
   * Asked before a fault is armed and again before a timed kill: false skips it (for instance once
   * a job is in a phase the test must not disturb).
   */
  mayFault?: () => boolean | Promise<boolean>;
  /** Wait between a crash and the restart (kubelet restarts a crashed container within a second at first). */
  restartDelayMs?: number;
  /**
   * A fault's killAfterMs counts from the process's first line of output (its modules loaded, its
   * work begun) instead of its spawn: on a loaded machine loading alone can outlast the delay, and
   * every kill would strike a process that had not started yet.
   */
  clockFromFirstLine?: boolean;
}

/** Longest a process may stay silent before a fault's clock starts all the same. */
const SILENT_START_MS = 30_000;

export interface FaultRecord {
  incarnation: number;
  point: string | null;
  /** How the process ended: at its fault point, by a kill from outside (timed or the test's), or on its own. */
  ended: 'at point' | 'killed' | 'exited';
  /** How long it lived. */
  ms: number;
}

/** A fault point an incarnation passed (traced, FLOTILLA_FAULT_TRACE=1), and when: ms since its first line of output. */
export interface PointPassed {
  incarnation: number;
  point: string;
  ms: number;
}

export class RestartingRole {
  readonly records: FaultRecord[] = [];
  /** Every traced fault point every incarnation passed, as its lines came. */
  readonly passes: PointPassed[] = [];
  private current: RoleProcess | null = null;
  private incarnation = 0;
  private readonly faults: Fault[];
  private readonly nextFault: (() => Fault | null) | null;
  private stopped = false;
  /** Resolves with the exit code once the role exits on its own. */
  readonly done: Promise<number | string>;

  constructor(private readonly options: RestartingRoleOptions) {
    this.faults = Array.isArray(options.faults) ? [...options.faults] : [];
    this.nextFault = typeof options.faults === 'function' ? options.faults : null;
    this.done = this.run();
  }

  get name(): string {
    return this.options.name;
  }

  /** The log files of every incarnation, in order. */
  get logFiles(): string[] {
    return Array.from({ length: this.incarnation }, (_, i) => `${this.options.logDir}/${this.options.name}-${i}.log`);
  }

  /** Whether an incarnation is running now. */
  get running(): boolean {
    return this.current !== null && this.current.child.exitCode === null && this.current.child.signalCode === null;
  }

  /** SIGKILLs the running incarnation now (it is restarted). */
  kill(): void {
    this.current?.child.kill('SIGKILL');
  }

  /** Stops the role for good, with SIGTERM as a pod's deletion does (or SIGKILL): no restart. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<number | string> {
    this.faults.length = 0;
    this.stopped = true;
    this.current?.child.kill(signal);
    return this.done;
  }

  private async run(): Promise<number | string> {
    for (;;) {
      const fault = !this.stopped && (await this.mayFault()) ? (this.nextFault ? this.nextFault() : (this.faults.shift() ?? null)) : null;
      const env = { ...(this.options.env ?? process.env), ...(fault?.point ? { FLOTILLA_FAULT_POINT: fault.point } : {}) };
      const n = this.incarnation++;
      const started = Date.now();
      const role = startRole(`${this.options.name}-${n}`, this.options.args, this.options.logDir, { env, cwd: this.options.cwd });
      this.current = role;
      const kill = () =>
        void Promise.resolve(this.mayFault()).then((ok) => {
          if (ok && role.child.exitCode === null && role.child.signalCode === null) role.child.kill('SIGKILL');
        });
      let timer: NodeJS.Timeout | undefined;
      const startClock = () => {
        if (fault && !timer) timer = setTimeout(kill, fault.killAfterMs);
      };
      let silent: NodeJS.Timeout | undefined;
      if (this.options.clockFromFirstLine) {
        role.child.stdout!.once('data', startClock);
        role.child.stderr!.once('data', startClock);
        silent = setTimeout(startClock, SILENT_START_MS);
      } else {
        startClock();
      }
      let pending = '';
      let atPoint = false;
      let firstLineAt: number | undefined;
      const firstLine = () => (firstLineAt ??= Date.now());
      role.child.stdout!.once('data', firstLine);
      role.child.stderr!.on('data', (data: Buffer) => {
        firstLine();
        const lines = (pending + data.toString()).split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          atPoint ||= line.includes('fault point: killing the process');
          if (!line.includes('"fault point passed"')) continue;
          try {
            this.passes.push({ incarnation: n, point: String((JSON.parse(line) as { faultPoint: unknown }).faultPoint), ms: Date.now() - firstLineAt! });
          } catch {
            // not a whole trace line
          }
        }
      });
      const closed = new Promise((resolve) => role.child.once('close', resolve));
      const code = await role.exited;
      // 'close' comes once the pipes are drained: the fault point's last line is read by then.
      await closed;
      atPoint ||= pending.includes('fault point: killing the process');
      clearTimeout(timer);
      clearTimeout(silent);
      const killed = code === 'SIGKILL';
      if (fault || killed) {
        this.records.push({ incarnation: n, point: fault?.point ?? null, ended: !killed ? 'exited' : atPoint ? 'at point' : 'killed', ms: Date.now() - started });
      }
      if (!killed || this.stopped) return code;
      await sleep(this.options.restartDelayMs ?? 100);
    }
  }

  private async mayFault(): Promise<boolean> {
    return this.options.mayFault ? await this.options.mayFault() : true;
  }
}
