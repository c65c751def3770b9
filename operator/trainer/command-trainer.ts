import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { specOf, type Model } from '../federation/model.js';
import { readSafetensors, writeSafetensors } from '../federation/safetensors.js';
import type { Metrics, TrainParams, TrainResult, Trainer } from './trainer.js';

export interface CommandTrainerOptions {
  /** The program and its arguments (no shell). */
  command: string[];
  /** The command's working directory. */
  workDir: string;
  /** The site's data file: FLOTILLA_DATA. */
  dataPath: string;
  /** FLOTILLA_SITE. */
  site: string;
  /** FLOTILLA_SEED for train and evaluate: stable over rounds, so a trainer can seed its data split with it. */
  jobSeed: number;
  /** Longest one run may take; then its whole process group is killed. */
  timeoutSeconds: number;
  /** Where the model and metrics files go; a fresh temporary folder (removed by close) when unset. */
  scratchDir?: string;
  /** The environment the FLOTILLA_* variables are added to (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Receives the command's output as it comes, for the site's logs. */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  /** trainer.controlVariates: the command takes SCAFFOLD's correction and says how many steps it took. */
  controlVariates?: boolean;
}

type Task = 'initialize' | 'train' | 'evaluate';

interface CallFiles {
  modelIn: string;
  modelOut: string;
  metrics: string;
  correctionIn: string;
}

/** The metric in which a command that takes control variates says how many local steps it took. */
const STEPS_METRIC = 'local_steps_taken';

/** How much of the command's stderr an error message quotes. */
const STDERR_TAIL_BYTES = 2000;
/** Between SIGTERM at the timeout and SIGKILL. */
const KILL_GRACE_MS = 5000;

/**
 * A bring-your-own trainer in any language: one run of the user's command per task, with its inputs
 * and outputs as files named in FLOTILLA_* variables (examples/byo-python/README.md). Everything it
 * writes is checked before it leaves the site: a model must have exactly the global model's tensor
 * names and shapes and only finite values, metrics must be finite numbers.
 */
export class CommandTrainer implements Trainer {
  readonly controlVariates: boolean;
  private scratch: string | null;
  private readonly ownScratch: boolean;
  private readonly running = new Set<number>();
  private calls = 0;

  constructor(private readonly options: CommandTrainerOptions) {
    if (options.command.length === 0) throw new Error('trainer.command is empty');
    this.scratch = options.scratchDir ?? null;
    this.ownScratch = options.scratchDir === undefined;
    this.controlVariates = options.controlVariates ?? false;
  }

  async initialize(seed: number): Promise<Model> {
    return this.withFiles('initialize', async (files) => {
      await this.run('initialize', 0, seed, { FLOTILLA_MODEL_OUT: files.modelOut });
      const model = await this.readModel(files.modelOut, null);
      if (model.length === 0) throw new Error('trainer command (initialize) wrote a model with no tensor');
      return model;
    });
  }

  /** Bring-your-own trainers do their own preprocessing: no federated statistics. */
  async statistics(): Promise<Float64Array | null> {
    return null;
  }

  useStatistics(): void {}

  async evaluate(model: Model, round: number): Promise<Metrics> {
    return this.withFiles('evaluate', async (files) => {
      await writeSafetensors(files.modelIn, model);
      await this.run('evaluate', round, this.options.jobSeed, { FLOTILLA_MODEL_IN: files.modelIn, FLOTILLA_METRICS_OUT: files.metrics });
      return readMetrics(files.metrics, 'evaluate');
    });
  }

  async train(global: Model, params: TrainParams, round: number): Promise<TrainResult> {
    return this.withFiles('train', async (files) => {
      await writeSafetensors(files.modelIn, global);
      const config = {
        local_epochs: params.localEpochs,
        local_steps: params.localSteps,
        batch_size: params.batchSize,
        learning_rate: params.learningRate,
        proximal_mu: params.proximalMu,
        seed: params.seed,
      };
      const correction = this.controlVariates ? params.correction : undefined;
      if (correction) await writeSafetensors(files.correctionIn, correction);
      await this.run('train', round, this.options.jobSeed, {
        FLOTILLA_MODEL_IN: files.modelIn,
        FLOTILLA_MODEL_OUT: files.modelOut,
        FLOTILLA_METRICS_OUT: files.metrics,
        FLOTILLA_CONFIG: JSON.stringify(config),
        ...(correction ? { FLOTILLA_CORRECTION_IN: files.correctionIn } : {}),
      });
      const model = await this.readModel(files.modelOut, global);
      const metrics = await readMetrics(files.metrics, 'train');
      if (!correction) return { model, metrics };
      const steps = metrics.extra?.[STEPS_METRIC];
      if (steps === undefined || !Number.isInteger(steps) || steps < 1) {
        throw new Error(`trainer command (train) takes control variates (trainer.controlVariates) and must write ${STEPS_METRIC}, a whole number ≥ 1, in its metrics; got ${JSON.stringify(steps)}`);
      }
      return { model, metrics, steps };
    });
  }

  async close(): Promise<void> {
    for (const pid of this.running) killGroup(pid, 'SIGKILL');
    if (this.ownScratch && this.scratch) await rm(this.scratch, { recursive: true, force: true });
    this.scratch = null;
  }

  /** Fresh file names for one call (a call never sees a previous call's output), removed after it. */
  private async withFiles<T>(task: Task, use: (files: CallFiles) => Promise<T>): Promise<T> {
    this.scratch ??= await mkdtemp(join(tmpdir(), 'flotilla-trainer-'));
    const base = join(this.scratch, `${++this.calls}-${task}`);
    const files = { modelIn: `${base}-in.safetensors`, modelOut: `${base}-out.safetensors`, metrics: `${base}-metrics.json`, correctionIn: `${base}-correction.safetensors` };
    const remove = () => Promise.all(Object.values(files).map((f) => rm(f, { force: true })));
    await remove();
    try {
      return await use(files);
    } finally {
      await remove();
    }
  }

  private run(task: Task, round: number, seed: number, io: Record<string, string>): Promise<void> {
    const { command, workDir, dataPath, site, timeoutSeconds, onOutput } = this.options;
    const env: NodeJS.ProcessEnv = { ...(this.options.env ?? process.env) };
    for (const name of Object.keys(env)) if (name.startsWith('FLOTILLA_')) delete env[name];
    Object.assign(env, io, {
      FLOTILLA_TASK: task,
      FLOTILLA_ROUND: String(round),
      FLOTILLA_SEED: String(seed),
      FLOTILLA_DATA: dataPath,
      FLOTILLA_SITE: site,
    });
    const what = `trainer command ${JSON.stringify(command.join(' '))} (${task}${task === 'initialize' ? '' : `, round ${round}`})`;
    return new Promise((resolve, reject) => {
      // Its own process group, so that a timeout also ends whatever the command started.
      const child = spawn(command[0]!, command.slice(1), { cwd: workDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderrTail = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (text: string) => onOutput?.('stdout', text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        onOutput?.('stderr', text);
        stderrTail = (stderrTail + text).slice(-STDERR_TAIL_BYTES);
      });
      const pid = child.pid;
      if (pid !== undefined) this.running.add(pid);
      let killer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        if (pid === undefined) return;
        killGroup(pid, 'SIGTERM');
        killer = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
      }, timeoutSeconds * 1000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${what} could not start in ${workDir}: ${err.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        clearTimeout(killer);
        if (pid === undefined) return;
        this.running.delete(pid);
        killGroup(pid, 'SIGKILL'); // anything it left running in its group
        const tail = stderrTail.trim() ? `; stderr ends with:\n${stderrTail.trim()}` : '';
        if (timedOut) reject(new Error(`${what} did not finish within ${timeoutSeconds} s and was killed${tail}`));
        else if (code !== 0) reject(new Error(`${what} failed (${signal ? `killed by ${signal}` : `exit code ${code}`})${tail}`));
        else resolve();
      });
    });
  }

  /** The command's model, in the reference's tensor order after checking names, shapes and values. */
  private async readModel(path: string, reference: Model | null): Promise<Model> {
    if (!(await exists(path))) throw new Error(`trainer command did not write its model to FLOTILLA_MODEL_OUT (${path})`);
    let model: Model;
    try {
      model = (await readSafetensors(path)).model; // refuses NaN and Infinity too
    } catch (err) {
      throw new Error(`trainer command wrote a model that cannot be used: ${(err as Error).message}`, { cause: err });
    }
    if (!reference) return model;
    const byName = new Map(model.map((t) => [t.name, t]));
    const describe = (m: Model) => specOf(m).map((t) => `${t.name}[${t.shape.join(',')}]`).sort().join(' ');
    if (model.length !== reference.length || describe(model) !== describe(reference)) {
      throw new Error(`trainer command wrote a model that is not the global model's shape: got ${describe(model)}, expected ${describe(reference)}`);
    }
    // safetensors files list tensors by name, whatever order they were given in: restore the model's.
    return reference.map((r) => byName.get(r.name)!);
  }
}

async function readMetrics(path: string, task: Task): Promise<Metrics> {
  if (!(await exists(path))) throw new Error(`trainer command (${task}) did not write its metrics to FLOTILLA_METRICS_OUT (${path})`);
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`trainer command (${task}) wrote metrics that are not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`trainer command (${task}) metrics must be a JSON object`);
  const { num_samples: numSamples, loss, accuracy, ...rest } = doc as Record<string, unknown>;
  if (typeof numSamples !== 'number' || !Number.isInteger(numSamples) || numSamples < 1) {
    throw new Error(`trainer command (${task}) metrics: num_samples must be a whole number ≥ 1, got ${JSON.stringify(numSamples)}`);
  }
  const finite = (name: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`trainer command (${task}) metrics: ${name} must be a finite number, got ${JSON.stringify(value)}`);
    return value;
  };
  const extra = Object.fromEntries(Object.entries(rest).map(([name, value]) => [name, finite(name, value)]));
  return { numSamples, loss: finite('loss', loss), accuracy: finite('accuracy', accuracy), ...(Object.keys(extra).length ? { extra } : {}) };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
