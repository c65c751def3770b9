/**
 * Named points where a test may crash this process on purpose, to aim a SIGKILL at the instant
 * between two steps: a write made durable and the next, an answer sent and the state behind it.
 * Every durable write (writeFileAtomic, a write to the Kubernetes API) and every announcement to a
 * peer (an update accepted, a job's end told) passes one.
 *
 *   FLOTILLA_FAULT_POINT=NAME[@N]   at the N-th arrival at NAME (the first by default), act:
 *   FLOTILLA_FAULT_ACTION=kill      SIGKILL this process there (the default), or
 *                         pause     log the point and hold that one flow for ever while the rest of
 *                                   the process runs on, so a test can see what peers see, then kill
 *   FLOTILLA_FAULT_TRACE=1          log every point passed, to learn where the points are
 *
 * Names are words: `write state.json synced`, `kube POST pods done`, `update accepted`. Digits in a
 * file's name read as N (`write model-N.safetensors synced`), so a point names a step, not a round.
 * Off unless a variable is set, and then a call is one comparison.
 */
const armed = parseArmed(process.env.FLOTILLA_FAULT_POINT);
const action = process.env.FLOTILLA_FAULT_ACTION === 'pause' ? 'pause' : 'kill';
const tracing = process.env.FLOTILLA_FAULT_TRACE === '1';
const active = armed !== null || tracing;
let arrivals = 0;

function parseArmed(value: string | undefined): { name: string; arrival: number } | null {
  if (!value) return null;
  const at = /^(.*)@(\d+)$/.exec(value);
  return at ? { name: at[1]!, arrival: Number(at[2]) } : { name: value, arrival: 1 };
}

/** Passes the point NAME: nothing happens unless a test armed it (see above). */
export function faultPoint(name: string): Promise<void> | undefined {
  if (!active) return undefined;
  if (tracing) note('fault point passed', name);
  if (armed === null || name !== armed.name || ++arrivals !== armed.arrival) return undefined;
  note(action === 'kill' ? 'fault point: killing the process' : 'fault point: holding here', name);
  if (action === 'kill') process.kill(process.pid, 'SIGKILL');
  return new Promise<void>(() => {});
}

/** A file's name as a fault point reads it: digits stand for any number. */
export function pointName(fileName: string): string {
  return fileName.replace(/\d+/g, 'N');
}

function note(message: string, point: string): void {
  // Synchronous, so the line is out before a SIGKILL that follows it.
  process.stderr.write(JSON.stringify({ level: 'warn', message, faultPoint: point, pid: process.pid }) + '\n');
}
