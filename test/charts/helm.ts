/**
 * The pinned helm (test/support/envtest/install-tools.sh helm) for the chart tests: render a chart with
 * given values into objects, or run any helm command against a test control plane. Helm's own
 * folders (config, cache, data) are a temporary folder of this process, never the user's.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';

const execFileAsync = promisify(execFile);

export const HUB_CHART = path.join(packageRoot, 'charts/flotilla');
export const SITE_CHART = path.join(packageRoot, 'charts/flotilla-site');

/** A Kubernetes object as helm renders it. */
export interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // The tests read into specs freely; a wrong path fails the expectation that uses it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [field: string]: any;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

const home = mkdtempSync(path.join(tmpdir(), 'flotilla-helm-'));
const env = {
  ...process.env,
  HELM_CONFIG_HOME: path.join(home, 'config'),
  HELM_CACHE_HOME: path.join(home, 'cache'),
  HELM_DATA_HOME: path.join(home, 'data'),
};

/** The environment helm runs with here: this process's, with helm's folders in a temporary one. */
export function helmEnv(): NodeJS.ProcessEnv {
  return { ...env };
}

let binary: Promise<string> | undefined;

/** helm: $FLOTILLA_HELM_BIN (the binary), else what install-tools.sh builds (a no-op once built). */
export function helmBinary(): Promise<string> {
  binary ??= process.env.FLOTILLA_HELM_BIN
    ? Promise.resolve(process.env.FLOTILLA_HELM_BIN)
    : execFileAsync('bash', [path.join(packageRoot, 'test/support/envtest/install-tools.sh'), 'helm'], { maxBuffer: 1 << 20 }).then(
        ({ stdout }) => path.join(stdout.trim().split('\n').pop()!, 'helm'),
      );
  return binary;
}

/** Runs helm; resolves whatever its exit code. */
export async function helm(args: string[], options: { kubeconfig?: string } = {}): Promise<HelmResult> {
  const bin = await helmBinary();
  const child = spawn(bin, [...args, ...(options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number>((resolve, reject) => child.once('error', reject).once('close', (c) => resolve(c ?? 1)));
  return { code, stdout, stderr };
}

/** Runs helm and fails with its output unless it succeeded. */
export async function helmOk(args: string[], options: { kubeconfig?: string } = {}): Promise<string> {
  const result = await helm(args, options);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

let valuesFiles = 0;

/** The values as a file helm reads with -f (JSON is YAML). */
export function valuesFile(values: unknown): string {
  const file = path.join(home, `values-${++valuesFiles}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
}

/** `helm template` of a chart with these values: the objects, in order. Throws with helm's message. */
export async function render(chart: string, values: unknown = {}, options: RenderOptions = {}): Promise<Rendered[]> {
  const out = await helmOk(['template', options.release ?? 'flotilla', chart, '--namespace', options.namespace ?? 'flotilla-system', '-f', valuesFile(values)]);
  return YAML.parseAllDocuments(out)
    .map((d) => d.toJS() as Rendered | null)
    .filter((o): o is Rendered => o !== null);
}

/** What helm says when it refuses to render these values (fails the test if it renders). */
export async function refusal(chart: string, values: unknown): Promise<string> {
  const result = await helm(['template', 'flotilla', chart, '--namespace', 'flotilla-system', '-f', valuesFile(values)]);
  if (result.code === 0) throw new Error(`helm rendered values it should refuse: ${JSON.stringify(values)}`);
  return result.stderr;
}

/** The one object of this kind (and name, when given); throws if there is not exactly one. */
export function one(objects: Rendered[], kind: string, name?: string): Rendered {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0]!;
}

export function all(objects: Rendered[], kind: string): Rendered[] {
  return objects.filter((o) => o.kind === kind);
}
