/**
 * A real Prometheus (the pinned build, tools.ts) for a test: it scrapes the targets the test gives
 * it through file_sd files, every 2 seconds, evaluates the rule files it was given every second, and
 * answers PromQL through its HTTP API. Its data lives in a temporary folder, removed by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { eventually } from '../eventually.js';
import { freePort } from '../operator-process.js';
import { prometheusBinary } from './tools.js';

/** A scrape job: its name (the `job` label Prometheus gives its targets) and whether it honours the targets' labels. */
export interface ScrapeJob {
  name: string;
  honorLabels: boolean;
}

export interface Series {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

export interface PrometheusServer {
  /** host:port of its HTTP API. */
  address: string;
  dir: string;
  /** Sets a scrape job's targets (host:port), replacing those it had. */
  setTargets(job: string, targets: string[]): Promise<void>;
  /** An instant query, at `time` (seconds) or now. */
  query(expr: string, time?: number): Promise<Series[]>;
  /** A range query from start to end (seconds), one point every step seconds. */
  queryRange(expr: string, start: number, end: number, step: number): Promise<Series[]>;
  /** The values a label takes on the series that match `match` (what Grafana's label_values() asks). */
  labelValues(label: string, match: string): Promise<string[]>;
  alerts(): Promise<Alert[]>;
  /** The targets' scrape health by job: "up" or "down" per target. */
  targets(): Promise<{ job: string; instance: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: { jobs: ScrapeJob[]; ruleFiles?: Record<string, string> }): Promise<PrometheusServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flotilla-prometheus-'));
  const targetsFile = (job: string) => path.join(dir, `targets-${job}.json`);
  // One write at a time, each whole and then renamed: Prometheus never reads half a file.
  let writes: Promise<unknown> = Promise.resolve();
  const setTargets = (job: string, targets: string[]) => {
    const file = targetsFile(job);
    const write = writes.then(async () => {
      await writeFile(`${file}.tmp`, JSON.stringify([{ targets, labels: {} }]));
      await rename(`${file}.tmp`, file);
    });
    writes = write.catch(() => undefined);
    return write;
  };
  const ruleFiles: string[] = [];
  for (const [name, text] of Object.entries(options.ruleFiles ?? {})) {
    const file = path.join(dir, name);
    await writeFile(file, text);
    ruleFiles.push(file);
  }
  for (const job of options.jobs) await setTargets(job.name, []);
  const config = {
    // A loaded machine (2 cores, several control planes) can take most of a second to answer a scrape.
    global: { scrape_interval: '2s', scrape_timeout: '1900ms', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: options.jobs.map((job) => ({
      job_name: job.name,
      honor_labels: job.honorLabels,
      file_sd_configs: [{ files: [targetsFile(job.name)], refresh_interval: '1s' }],
    })),
  };
  await writeFile(path.join(dir, 'prometheus.yml'), YAML.stringify(config));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const log = createWriteStream(path.join(dir, 'prometheus.log'));
  const child: ChildProcess = spawn(
    await prometheusBinary(),
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=${address}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  /** Queries are POSTed (no limit on their length); the other endpoints take GET only. */
  const api = async <T>(urlPath: string, params: Record<string, string | number> = {}, method: 'GET' | 'POST' = 'GET'): Promise<T> => {
    const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    const url = `http://${address}${urlPath}`;
    const init = method === 'POST' ? { method, body: query } : { method };
    const res = await fetch(method === 'GET' && Object.keys(params).length > 0 ? `${url}?${query}` : url, { ...init, signal: AbortSignal.timeout(10_000) });
    const json = (await res.json()) as { status: string; data: T; error?: string };
    if (json.status !== 'success') throw new Error(`${urlPath} ${JSON.stringify(params)}: ${json.error}`);
    return json.data;
  };
  const server: PrometheusServer = {
    address,
    dir,
    setTargets,
    query: async (expr, time) => (await api<{ result: Series[] }>('/api/v1/query', { query: expr, ...(time ? { time } : {}) }, 'POST')).result,
    queryRange: async (expr, start, end, step) => (await api<{ result: Series[] }>('/api/v1/query_range', { query: expr, start, end, step }, 'POST')).result,
    labelValues: async (label, match) => api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match }),
    alerts: async () => (await api<{ alerts: Alert[] }>('/api/v1/alerts')).alerts,
    targets: async () =>
      (await api<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }>('/api/v1/targets')).activeTargets.map((t) => ({
        job: t.labels.job!,
        instance: t.labels.instance!,
        health: t.health,
        lastError: t.lastError,
      })),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.race([
      eventually(async () => (await fetch(`http://${address}/-/ready`, { signal: AbortSignal.timeout(2_000) })).ok, 60_000, 'prometheus to be ready'),
      exited.then((code) => {
        throw new Error(`prometheus exited with ${code}; see ${path.join(dir, 'prometheus.log')}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return server;
}
