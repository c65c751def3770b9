/** The samples of a Prometheus text exposition (what a /metrics answers), for assertions. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function samples(exposition: string): Sample[] {
  const found: Sample[] = [];
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    found.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return found;
}

/** The samples of one metric whose labels include `labels`. */
export function series(exposition: string | Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  const all = typeof exposition === 'string' ? samples(exposition) : exposition;
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample of `name` with these labels; throws unless there is exactly one. */
export function value(exposition: string | Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = series(exposition, name, labels);
  if (found.length !== 1) throw new Error(`expected one sample of ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}
