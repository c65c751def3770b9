/**
 * The figures a fault suite prints when it ends: what it tried, what it injected, how it came out.
 * Printed straight to stdout (not through console, which jest decorates), one block per suite.
 */
export class FaultFigures {
  private readonly counts = new Map<string, number>();
  private readonly values = new Map<string, string>();

  constructor(readonly suite: string) {}

  /** Adds n to a counter (creating it at 0 first, so a counter that stayed 0 is still printed). */
  add(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  /** Counts one outcome: `kind` (held, broken, ...) and what was met. */
  outcome(kind: string, met: string): void {
    this.add(`outcome: ${kind}`);
    this.add(`status met: ${met}`);
  }

  /** A measured value, printed as given. */
  set(name: string, value: string | number): void {
    this.values.set(name, String(value));
  }

  lines(): string[] {
    const rows = [...[...this.counts].map(([k, v]) => [k, String(v)] as const), ...this.values];
    const width = Math.max(20, ...rows.map(([k]) => k.length));
    return [`fault figures: ${this.suite}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
  }

  print(): void {
    process.stdout.write(`\n${this.lines().join('\n')}\n`);
  }
}
