/**
 * Exponential backoff with full jitter (delay drawn uniformly between half and all of the cap), so
 * that sites cut off together do not all come back in the same instant.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly baseMs = 250,
    private readonly maxMs = 10_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt. */
  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** this.failures);
    this.failures++;
    return cap / 2 + (cap / 2) * this.random();
  }

  reset(): void {
    this.failures = 0;
  }
}
