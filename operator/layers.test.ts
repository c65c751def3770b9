import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './api/crds.js';

/**
 * The floors of operator/ (docs/architecture.md, "Layers"): a folder imports only from lower floors.
 * Relative imports count, type-only ones too; tests and generated code are left out.
 */
const FLOORS: Record<string, number> = {
  'log.ts': 0,
  process: 0,
  api: 0,
  pki: 1,
  kube: 1,
  privacy: 1,
  audit: 1,
  secagg: 2,
  federation: 2,
  sitelink: 2,
  trainer: 3,
  aggregator: 4,
  client: 4,
  hub: 4,
  site: 4,
  simulate: 5,
  cli: 6,
};

/** Lower floors a folder still may not use: each side of a protocol stands on its own protocol. */
const NOT_BELOW: Record<string, string[]> = {
  aggregator: ['sitelink', 'kube'],
  client: ['sitelink', 'kube'],
  hub: ['federation'],
  site: ['federation'],
};

/** The one import across floor 4: the operator reads the aggregator's /status, and takes its type. */
const TYPE_ONLY_EXCEPTIONS = new Set(['hub/controllers/aggregator-report.ts -> aggregator/status.ts']);

const operatorDir = path.join(packageRoot, 'operator');
const IMPORT = /(import|export)(\s+type)?\s[^;]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gs;

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sources(): string[] {
  return readdirSync(operatorDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .filter((f) => !f.split(path.sep).includes('generated'));
}

function edges(files: string[]): Edge[] {
  const known = new Set(files);
  const out: Edge[] = [];
  for (const from of files) {
    for (const m of readFileSync(path.join(operatorDir, from), 'utf8').matchAll(IMPORT)) {
      const target = path.normalize(path.join(path.dirname(from), m[3] ?? m[4]!)).replace(/\.js$/, '.ts');
      if (known.has(target)) out.push({ from, to: target, typeOnly: m[1] === 'import' && m[2] !== undefined });
    }
  }
  return out;
}

const folderOf = (file: string) => (file.includes(path.sep) ? file.slice(0, file.indexOf(path.sep)) : file);

/** The files on import loops, one list per loop (Tarjan's strongly connected components). */
function loops(files: string[], all: Edge[]): string[][] {
  const next = new Map(files.map((f) => [f, all.filter((e) => e.from === f).map((e) => e.to)]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do component.push((w = stack.pop()!));
      while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

describe('the layers of operator/', () => {
  const files = sources();
  const all = edges(files);

  it('reads the imports it checks', () => {
    expect(all).toContainEqual({ from: path.join('site', 'hub-link.ts'), to: path.join('sitelink', 'proto.ts'), typeOnly: false });
  });

  it('has no import loops', () => {
    expect(loops(files, all)).toEqual([]);
  });

  it('every folder is on a floor', () => {
    expect([...new Set(files.map(folderOf))].filter((f) => FLOORS[f] === undefined)).toEqual([]);
  });

  it('imports only go down, and each side of a protocol stands on its own', () => {
    const crossing = all.filter(({ from, to, typeOnly }) => {
      const [a, b] = [folderOf(from), folderOf(to)];
      if (a === b) return false;
      if (typeOnly && TYPE_ONLY_EXCEPTIONS.has(`${from} -> ${to}`.replaceAll(path.sep, '/'))) return false;
      return FLOORS[b]! >= FLOORS[a]! || (NOT_BELOW[a] ?? []).includes(b);
    });
    expect(crossing.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });
});
