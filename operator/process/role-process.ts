/**
 * What the aggregator and client commands share as processes: their required flags, and a stop on
 * SIGTERM or SIGINT that lets them shut down cleanly (a pod being deleted, Ctrl-C).
 */
export function missingFlags(command: string, values: Record<string, string | undefined>, required: readonly string[]): string | null {
  const missing = required.filter((flag) => !values[flag]);
  return missing.length > 0 ? `flotilla ${command}: missing ${missing.map((f) => `--${f}`).join(', ')}\n` : null;
}

/** Runs a role with a signal that aborts on SIGTERM or SIGINT; `stopped` says whether it did. */
export async function untilStopped<T>(run: (signal: AbortSignal) => Promise<T>): Promise<{ value: T; stopped: boolean }> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const value = await run(stop.signal);
    return { value, stopped: stop.signal.aborted };
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
