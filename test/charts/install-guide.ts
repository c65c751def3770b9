/**
 * docs/install.md as a program: its `sh hub` and `sh hospital` blocks, in order, run with bash,
 * kubectl and the pinned helm against whatever clusters a test brings (control planes with process
 * kubelets in test/charts/install-guide.test.ts, real nodes in test/real-node/install.test.ts).
 * The guide's hospital blocks are Cleveland's; every other hospital runs the same with its own
 * name in place of `cleveland`, as the guide says.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';

export type Role = 'hub' | 'hospital';
export interface Block {
  section: string;
  role: Role;
  code: string;
}

/** The hospital whose name the guide's hospital blocks spell. */
export const GUIDE_HOSPITAL = 'cleveland';

/** The guide's runnable blocks by section ("## 1. The hub" -> "1. The hub"). */
export function guideBlocks(text = readFileSync(path.join(packageRoot, 'docs/install.md'), 'utf8')): Block[] {
  const blocks: Block[] = [];
  let section = '';
  const fence = /^```sh (hub|hospital)\n([\s\S]*?)^```$/gm;
  const headings = [...text.matchAll(/^## (.+)$/gm)].map((m) => ({ at: m.index, title: m[1]! }));
  for (const m of text.matchAll(fence)) {
    section = headings.filter((h) => h.at < m.index).pop()?.title ?? section;
    blocks.push({ section, role: m[1] as Role, code: m[2]! });
  }
  return blocks;
}

/** A hospital block as another hospital runs it. */
export function atHospital(block: Block, hospital: string): Block {
  if (block.role !== 'hospital') throw new Error('only hospital blocks are per hospital');
  return { ...block, code: block.code.replace(new RegExp(`\\b${GUIDE_HOSPITAL}\\b`, 'g'), hospital) };
}

/** What section 6 says stays, per cluster, as objects added since before the guide ("Kind ns/name"). */
export function whatTheGuideLeaves(hospitals: readonly string[]): Record<string, { added: string[]; removed: string[] }> {
  const hospital = { added: ['Namespace flotilla', 'PersistentVolume flotilla-flotilla-site-site-data', 'PersistentVolumeClaim flotilla/site-data'], removed: [] };
  const hub = {
    added: [
      'APIService v1alpha1.flotilla.dev',
      'ConfigMap flotilla-system/flotilla-revoked-sites',
      'CustomResourceDefinition federatedjobs.flotilla.dev',
      'CustomResourceDefinition sites.flotilla.dev',
      'Lease flotilla-system/flotilla-operator',
      'Namespace cardiology',
      'Namespace flotilla-system',
      'Secret flotilla-system/flotilla-job-ca',
      'Secret flotilla-system/flotilla-site-ca',
    ],
    removed: [],
  };
  return { hub, ...Object.fromEntries(hospitals.map((name) => [name, hospital])) };
}

/** The namespaces' own objects (default ServiceAccount, root CA ConfigMap) are the control plane's, not the guide's. */
export const isNamespaceDefault = (o: string) => /^(ServiceAccount [^/]+\/default|ConfigMap [^/]+\/kube-root-ca\.crt)$/.test(o);
export const ignoringNamespaceDefaults = (d: { added: string[]; removed: string[] }) => ({ added: d.added.filter((o) => !isNamespaceDefault(o)), removed: d.removed });

export interface GuideRunnerOptions {
  /** The reader's working folder (charts/ must be in it; the join bundles land in it). */
  workDir: string;
  /** Folders holding kubectl and helm, put first on PATH. */
  binDirs: string[];
  /** Environment for every block (helm's folders). */
  env: NodeJS.ProcessEnv;
  /** The kubeconfig of the hub ('hub') and of each hospital (by name). */
  kubeconfigs: Record<string, string>;
  /** What to add to a failed block's error: the pods' last log lines. */
  diagnostics?: () => Promise<string>;
}

export class GuideRunner {
  readonly blocks = guideBlocks();
  readonly sections = [...new Set(this.blocks.map((b) => b.section))];
  /** Every block run, with what it printed. */
  readonly transcript: string[] = [];

  constructor(private readonly o: GuideRunnerOptions) {}

  /** The hospitals, the guide's first. */
  get hospitals(): string[] {
    return Object.keys(this.o.kubeconfigs).filter((k) => k !== 'hub');
  }

  section(title: string): Block[] {
    const mine = this.blocks.filter((b) => b.section === title);
    if (mine.length === 0) throw new Error(`docs/install.md has no runnable block in "${title}"`);
    return mine;
  }

  /** Every block of a section in order: a hub block once, a hospital block at each hospital in turn. */
  async runSection(title: string): Promise<void> {
    for (const block of this.section(title)) await this.runEverywhere(block);
  }

  async runEverywhere(block: Block): Promise<void> {
    if (block.role === 'hub') return this.run(block);
    for (const hospital of this.hospitals) await this.run(block, hospital);
  }

  /** Runs one block as the guide's reader would, in the shared working folder. */
  async run(block: Block, hospital = GUIDE_HOSPITAL): Promise<void> {
    const target = block.role === 'hub' ? 'hub' : hospital;
    const code = block.role === 'hub' ? block.code : atHospital(block, hospital).code;
    const kubeconfig = this.o.kubeconfigs[target];
    if (!kubeconfig) throw new Error(`no cluster for ${target}`);
    const env = { ...this.o.env, PATH: `${this.o.binDirs.join(':')}:${process.env.PATH}`, KUBECONFIG: kubeconfig };
    const started = Date.now();
    const child = spawn('bash', ['-euo', 'pipefail', '-c', code], { cwd: this.o.workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exit = await new Promise<number>((resolve, reject) => child.once('error', reject).once('close', (c) => resolve(c ?? 1)));
    this.transcript.push(`$ [${target}] (${Date.now() - started} ms)\n${code}${output}`);
    if (exit !== 0) {
      const more = (await this.o.diagnostics?.().catch((e: Error) => `(no diagnostics: ${e.message})`)) ?? '';
      throw new Error(`a ${target} block of "${block.section}" failed (${exit}):\n${code}\n--- output ---\n${output}\n${more}`);
    }
  }
}
