/**
 * One job of three listed sites, h1 and h2 honest and x hostile, on a real aggregator over mutual
 * TLS: the runner plays the honest part of every site (h1, h2, and x when x is not attacking) and,
 * at the phase a case names, lets x attack between h1's and h2's updates (or before both). The
 * honest updates are fixed functions of the site, the round and the global model, so a run in which
 * x only ever does its honest part is the reference: a refused attack must leave the job's result
 * and final model bit for bit as that run made them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseFederatedJob } from '../../operator/api/federatedjob.js';
import { jobSettings, type JobSettings } from '../../operator/aggregator/job-settings.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { layerWidths, type BuiltinTrainerSpec } from '../../operator/trainer/builtin-spec.js';
import { Network } from '../../operator/trainer/network.js';
import { specOf, type Model, type TensorSpec } from '../../operator/federation/model.js';
import { receiveModel, tensorChunks, toWireHeader, type Values } from '../../operator/federation/tensor-stream.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { rng } from '../../operator/process/random.js';
import { nextTask, rawClient, submit, type Outcome } from '../dataplane/fixtures.js';
import { aggregatorProcess, inProcessAggregator, type AggregatorHost } from './aggregator-host.js';
import { HostileChannel } from '../support/hostile/grpc-wire.js';
import { HostilePki } from '../support/hostile/pki.js';
import type { WireUpdateHeader } from '../support/hostile/federation-wire.js';

export const NAMESPACE = 'hospitals';
export const JOB = 'heart';
export const SITES = ['h1', 'h2', 'x'] as const;
export type SiteName = (typeof SITES)[number];
export const FEATURES = 4;
const SEED = 7;

/** An MLP of about 1.5 MB: its largest tensor (2.weight) takes two 1 MiB chunks, so refusals can come mid-stream. */
export const TRAINER: BuiltinTrainerSpec = parseFederatedJob(manifest({})).spec.trainer.builtin!;

export function manifest(spec: Record<string, unknown>) {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: JOB, namespace: NAMESPACE },
    spec: {
      sites: { names: [...SITES] },
      rounds: 1,
      minSites: 2,
      seed: SEED,
      roundDeadlineSeconds: 60,
      heartbeatTimeoutSeconds: 30,
      data: { path: 'records.csv' },
      trainer: {
        builtin: {
          model: 'MLP',
          hiddenUnits: [600, 600],
          dataset: { label: { column: 0 }, features: Array.from({ length: FEATURES }, (_, i) => ({ name: `f${i}`, column: i + 1 })), standardize: 'Federated' },
        },
      },
      ...spec,
    },
  };
}

export function hostileJobSettings(spec: Record<string, unknown> = {}, speed: Partial<JobSettings> = {}): JobSettings {
  return { ...jobSettings(parseFederatedJob(manifest(spec)), NAMESPACE), ...speed };
}

let initial: Model | undefined;

/** The initial model the job's seed makes (what any honest site sends when asked to initialise). Shared: do not change it. */
export function initialModel(): Model {
  if (!initial) {
    const network = new Network(layerWidths(TRAINER));
    initial = network.toModel(network.initialParameters(SEED));
  }
  return initial;
}

/** Each site's honest figures: its training records, its test records, and how its evaluation went. */
export const HONEST = {
  h1: { samples: 120, eval: { numSamples: 30, loss: 0.61, accuracy: 0.7 }, train: { numSamples: 120, loss: 0.55, accuracy: 0.72 } },
  h2: { samples: 80, eval: { numSamples: 20, loss: 0.52, accuracy: 0.8 }, train: { numSamples: 80, loss: 0.5, accuracy: 0.78 } },
  x: { samples: 100, eval: { numSamples: 25, loss: 0.58, accuracy: 0.76 }, train: { numSamples: 100, loss: 0.53, accuracy: 0.75 } },
} as const;

/** A site's federated statistics: [count, Σx per feature, Σx² per feature] of made-up records. */
export function honestStatistics(site: SiteName): Float64Array {
  const random = rng(site.charCodeAt(0) * 31 + site.charCodeAt(site.length - 1));
  const n = HONEST[site].samples;
  const stats = new Float64Array(1 + 2 * FEATURES);
  stats[0] = n;
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < FEATURES; j++) {
      const v = 50 + 20 * j + 10 * random();
      stats[1 + j] = stats[1 + j]! + v;
      stats[1 + FEATURES + j] = stats[1 + FEATURES + j]! + v * v;
    }
  }
  return stats;
}

const steps = new Map<string, Float32Array[]>();

/** A site's honest update of a round: the global model moved by a small step of its own. */
export function honestUpdate(site: SiteName, round: number, global: Model): Float32Array[] {
  const key = `${site}/${round}`;
  if (!steps.has(key)) {
    const random = rng(1000 * round + site.charCodeAt(site.length - 1));
    steps.set(key, global.map((t) => Float32Array.from({ length: t.data.length }, () => 0.01 * (random() - 0.5))));
  }
  const step = steps.get(key)!;
  return global.map((t, k) => {
    const out = new Float32Array(t.data.length);
    for (let i = 0; i < out.length; i++) out[i] = t.data[i]! + step[k]![i]!;
    return out;
  });
}

export type AttackPhase = 'INITIALIZE' | 'STATISTICS' | 'TRAIN' | 'EVALUATE';

export interface AttackContext {
  address: string;
  pki: HostilePki;
  /** x's own certificate: a listed site's, as the hub issued it. */
  tlsDir: string;
  settings: JobSettings;
  /** x's task for the phase (null when the aggregator gave x no such task, e.g. no INITIALIZE). */
  task: Task__Output | null;
  /** The global model of the round (TRAIN, EVALUATE), as fetched by an honest site. */
  global: Model | null;
  /** The tensors the phase expects of an update (the model's, the statistics vector's). */
  specs: TensorSpec[];
  /** What x sends in this phase when honest: its header and arrays. */
  honest: { header: WireUpdateHeader; arrays: Values[] };
  /** h1's certificate and what h1 sent in this phase (before the attack, unless it attacks first). */
  h1: { tlsDir: string; honest: { header: WireUpdateHeader; arrays: Values[] } | null };
  /** A new HTTP/2 session with x's certificate (or another folder); closed after the attack. */
  channel(tlsDir?: string): Promise<HostileChannel>;
  /** Bytes the aggregator has logged so far. */
  logBytes(): number;
  /** The aggregator's own process, when it runs as one. */
  aggregatorPid: number | null;
  /** The attack delivered x's honest part itself: the runner does not send it again. */
  honestSent(): void;
}

export interface AttackOutcome {
  /** The gRPC status the attack met (the last one, when it made several calls). */
  code: number;
  details?: string;
  /** x stays silent for the rest of the phase (it took a task and stalled). */
  silent?: boolean;
  /** Anything else the case wants to check afterwards. */
  figures?: Record<string, number>;
}

export interface Attack {
  phase: AttackPhase;
  /**
   * When x attacks within the phase: before any honest update, between h1's and h2's (the default),
   * or after both (for attacks that deliver x's own update too: the order updates arrive in stays
   * the reference run's).
   */
  at?: 'first' | 'between' | 'last';
  run(ctx: AttackContext): Promise<AttackOutcome>;
}

/** What a run left that a refused attack must not change. */
export interface JobDigest {
  status: string;
  reason: string;
  statistics: number[] | null;
  rounds: { round: number; attempt: number; participants: string[]; train: unknown; eval: unknown; sites: unknown[] }[];
  finalEvaluation: unknown;
}

export interface JobRun {
  outcome: AttackOutcome | null;
  /** null when an honest update was refused (the run stops there). */
  digest: JobDigest | null;
  model: Model | null;
  /** Honest updates the aggregator refused: none, if the attack spoiled nothing. */
  honestRefusals: string[];
  /** Milliseconds from the attack's start until h1 next had work (stall cases). */
  honestWaitedMs: number | null;
  logLines: Record<string, unknown>[];
}

const statisticsSpec = (): TensorSpec[] => [{ name: 'statistics', dtype: 'F64', shape: [1 + 2 * FEATURES] }];

/** The job's PKI and the TLS folders of the aggregator and the three sites. */
export interface JobCredentials {
  pki: HostilePki;
  aggregatorTls: string;
  siteTls: Map<SiteName, string>;
}

/** Credentials to share between runs (issuing them is most of a run's set-up). */
export async function jobCredentials(dir: string): Promise<JobCredentials> {
  const pki = await HostilePki.create(dir, NAMESPACE, JOB);
  const siteTls = new Map<SiteName, string>();
  for (const site of SITES) siteTls.set(site, await pki.client(site));
  return { pki, aggregatorTls: await pki.aggregator(), siteTls };
}

export interface RunOptions {
  speed?: Partial<JobSettings>;
  spec?: Record<string, unknown>;
  credentials?: JobCredentials;
  /** The aggregator as a process of the built CLI (by default, in this one). */
  process?: boolean;
  /** Called once the job is over, before the aggregator is stopped. */
  onEnded?: () => void;
}

/** Runs the job to its end, with x attacking once if `attack` is given. */
export async function runHostileJob(attack: Attack | null, options: RunOptions = {}): Promise<JobRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-hostile-'));
  const settings = hostileJobSettings(options.spec, options.speed);
  const credentials = options.credentials ?? (await jobCredentials(dir));
  const stateDir = path.join(dir, 'state');
  const host = options.process
    ? await aggregatorProcess(manifest(options.spec ?? {}), credentials.aggregatorTls, stateDir, dir)
    : await inProcessAggregator(settings, credentials.aggregatorTls, stateDir);
  const run = new HostileJobRun(host, settings, credentials, attack);
  try {
    await run.connect();
    try {
      await run.play();
    } catch (err) {
      if (!(err instanceof HonestRefused)) throw err;
      return run.finished(null, null);
    }
    await run.tellEveryoneDone();
    // Connections closed first: the aggregator's own shutdown waits for them.
    run.close();
    await host.ended();
    options.onEnded?.();
    const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
    const model = result.model ? (await readSafetensors(path.join(stateDir, result.model))).model : null;
    return run.finished(digestOf(result), model);
  } finally {
    run.close();
    await host.close();
    // A phase close under way when the run stopped early may still be writing its checkpoint.
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

/** The sites' side of one run: the honest protocol of h1, h2 and x, and x's one attack. */
class HostileJobRun {
  private readonly clients = new Map<SiteName, FederationClient>();
  private readonly channels: HostileChannel[] = [];
  private readonly honestRefusals: string[] = [];
  private outcome: AttackOutcome | null = null;
  private honestWaitedMs: number | null = null;
  /** The phase in which x stalls (it sends nothing more there). */
  private xSilentIn: string | null = null;
  /** h1's next task, when the runner already asked for it. */
  private pendingH1: Task__Output | null = null;
  private attacked: boolean;

  private readonly address: string;

  constructor(
    private readonly host: AggregatorHost,
    private readonly settings: JobSettings,
    private readonly credentials: JobCredentials,
    private readonly attack: Attack | null,
  ) {
    this.address = host.address;
    this.attacked = attack === null;
  }

  async connect(): Promise<void> {
    for (const site of SITES) this.clients.set(site, await rawClient(this.address, this.credentials.siteTls.get(site)!));
  }

  close(): void {
    for (const c of this.channels.splice(0)) c.close();
    for (const client of this.clients.values()) client.close();
  }

  finished(digest: JobDigest | null, model: Model | null): JobRun {
    return { outcome: this.outcome, digest, model, honestRefusals: this.honestRefusals, honestWaitedMs: this.honestWaitedMs, logLines: this.host.logLines() };
  }

  /** The job, phase by phase, until h1 is told it is over. */
  async play(): Promise<void> {
    if (this.attack?.phase === 'INITIALIZE') {
      // x asks first, so that x is the one asked for the initial model.
      const tx = await work(this.site('x'));
      this.attacked = true;
      const initializing = tx.kind === 'INITIALIZE';
      const done = await this.runAttack(initializing ? tx : null, null, initializing ? specOf(initialModel()) : []);
      if (initializing && !done) await this.sendHonest('x', tx, null);
      if (this.outcome?.silent) this.xSilentIn = 'INITIALIZE';
    }
    for (;;) {
      const t1 = this.pendingH1 ?? (await work(this.site('h1')));
      this.pendingH1 = null;
      if (t1.kind === 'DONE') return;
      if (t1.kind === 'INITIALIZE') {
        await this.sendHonest('h1', t1, null);
        continue;
      }
      await this.phase(t1);
    }
  }

  /** One phase every site takes part in (statistics, a round, the final evaluation). */
  private async phase(t1: Task__Output): Promise<void> {
    const t2 = await work(this.site('h2'));
    const tx = this.xSilentIn === t1.kind ? null : await work(this.site('x'));
    const global = t1.kind === 'TRAIN' || t1.kind === 'EVALUATE' ? await receiveModel(this.site('h1').fetchModel({ round: t1.round })) : null;
    const attackNow = !this.attacked && this.attack!.phase === t1.kind;
    const at = this.attack?.at ?? 'between';
    const phaseSpecs = t1.kind === 'STATISTICS' ? statisticsSpec() : t1.kind === 'TRAIN' ? specOf(global!) : [];
    let xDone = false;
    const attackIfAt = async (position: typeof at) => {
      if (!attackNow || at !== position) return;
      this.attacked = true;
      xDone = await this.runAttack(tx, global, phaseSpecs, t1);
    };
    await attackIfAt('first');
    await this.sendHonest('h1', t1, global);
    await attackIfAt('between');
    if (t2.kind !== 'DONE') await this.sendHonest('h2', t2, global);
    await attackIfAt('last');
    if (tx && tx.kind !== 'DONE' && !xDone) await this.sendHonest('x', tx, global);
    if (this.outcome?.silent && !this.xSilentIn) this.xSilentIn = t1.kind;
  }

  async tellEveryoneDone(): Promise<void> {
    for (const site of ['h2', 'x'] as const) await work(this.site(site));
  }

  private site(name: SiteName): FederationClient {
    return this.clients.get(name)!;
  }

  /** What a site honestly sends for a task. */
  private honestPart(site: SiteName, task: Task__Output, global: Model | null): { header: UpdateHeader; specs: TensorSpec[]; arrays: Values[] } {
    const base = { kind: task.kind, round: task.round, attempt: task.attempt };
    const figures = (f: { numSamples: number; loss: number; accuracy: number }) => ({ ...f, extra: {} });
    switch (task.kind) {
      case 'INITIALIZE': {
        const model = initialModel();
        return { header: base, specs: specOf(model), arrays: model.map((t) => t.data) };
      }
      case 'STATISTICS':
        return { header: base, specs: statisticsSpec(), arrays: [honestStatistics(site)] };
      case 'TRAIN':
        return {
          header: { ...base, numSamples: HONEST[site].samples, train: figures(HONEST[site].train), eval: figures(HONEST[site].eval) },
          specs: specOf(global!),
          arrays: honestUpdate(site, task.round, global!),
        };
      default:
        return { header: { ...base, eval: figures(HONEST[site].eval) }, specs: [], arrays: [] };
    }
  }

  private async sendHonest(site: SiteName, task: Task__Output, global: Model | null): Promise<void> {
    const part = this.honestPart(site, task, global);
    const result: Outcome = await submit(this.site(site), wireUpdate(part.header, part.specs, part.arrays));
    if (!result.ok) {
      this.honestRefusals.push(`${site} ${task.kind} ${task.round}: ${result.code} ${result.details}`);
      // The attack spoiled the job already: no need to sit out its deadlines.
      throw new HonestRefused();
    }
  }

  /** x's attack; true if x needs to send nothing more in this phase. */
  private async runAttack(task: Task__Output | null, global: Model | null, phaseSpecs: TensorSpec[], h1Task: Task__Output | null = null): Promise<boolean> {
    let delivered = false;
    const part = task ? this.honestPart('x', task, global) : null;
    const h1Part = h1Task ? this.honestPart('h1', h1Task, global) : null;
    const started = Date.now();
    const { pki, siteTls } = this.credentials;
    const outcome = await this.attack!.run({
      address: this.address,
      pki,
      tlsDir: siteTls.get('x')!,
      settings: this.settings,
      task,
      global,
      specs: phaseSpecs,
      honest: part ? { header: toHostileHeader(part.header, part.specs), arrays: part.arrays } : { header: { kind: 'WAIT' }, arrays: [] },
      h1: { tlsDir: siteTls.get('h1')!, honest: h1Part && { header: toHostileHeader(h1Part.header, h1Part.specs), arrays: h1Part.arrays } },
      channel: async (dir) => {
        const channel = await HostileChannel.connect(this.address, { tlsDir: dir ?? siteTls.get('x')! });
        this.channels.push(channel);
        return channel;
      },
      logBytes: () => this.host.logBytes(),
      aggregatorPid: this.host.pid,
      honestSent: () => (delivered = true),
    });
    this.outcome = outcome;
    for (const c of this.channels.splice(0)) c.close();
    if (outcome.silent) {
      // h1 must get on with the job: how long did x's stall hold it up?
      this.pendingH1 = await work(this.site('h1'));
      this.honestWaitedMs = Date.now() - started;
    }
    return delivered || outcome.silent === true;
  }
}

class HonestRefused extends Error {}

/** The first task that is not WAIT. */
async function work(client: FederationClient, timeoutMs = 30_000): Promise<Task__Output> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const task = await nextTask(client, 2_000);
    if (task.kind !== 'WAIT') return task;
  }
  throw new Error(`no work within ${timeoutMs / 1000}s`);
}

/** An update as the project's own encoder writes it (what the honest sites send). */
function wireUpdate(header: UpdateHeader, specs: TensorSpec[], arrays: Values[]): UpdateMessage[] {
  return [
    { header: { ...header, model: specs.length > 0 ? toWireHeader(specs) : undefined }, body: 'header' },
    ...[...tensorChunks(arrays)].map((chunk): UpdateMessage => ({ chunk, body: 'chunk' })),
  ];
}

/** The same header for the hostile encoder. */
function toHostileHeader(header: UpdateHeader, specs: TensorSpec[]): WireUpdateHeader {
  return {
    kind: header.kind as WireUpdateHeader['kind'],
    round: header.round ?? 0,
    attempt: header.attempt ?? 0,
    numSamples: (header.numSamples as number | undefined) ?? 0,
    train: header.train ? { numSamples: Number(header.train.numSamples), loss: Number(header.train.loss), accuracy: Number(header.train.accuracy) } : undefined,
    eval: header.eval ? { numSamples: Number(header.eval.numSamples), loss: Number(header.eval.loss), accuracy: Number(header.eval.accuracy) } : undefined,
    model: specs.length > 0 ? { tensors: specs.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape })), totalBytes: specs.reduce((n, s) => n + s.shape.reduce((m, d) => m * d, 1) * (s.dtype === 'F64' ? 8 : 4), 0) } : undefined,
  };
}

function digestOf(result: JobResult): JobDigest {
  return {
    status: result.status,
    reason: result.reason,
    statistics: result.statistics,
    rounds: result.rounds.map((r) => ({ round: r.round, attempt: r.attempt, participants: [...r.participants].sort(), train: r.train, eval: r.eval, sites: [...r.sites].sort((a, b) => a.site.localeCompare(b.site)) })),
    finalEvaluation: result.finalEvaluation && { ...result.finalEvaluation, sites: [...result.finalEvaluation.sites].sort((a, b) => a.site.localeCompare(b.site)) },
  };
}

/** Whether two models are the same bits: names, shapes and every float. */
export function sameBits(a: Model | null, b: Model | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.length === b.length &&
    a.every((t, i) => {
      const u = b[i]!;
      return t.name === u.name && t.shape.join() === u.shape.join() && Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength));
    })
  );
}
