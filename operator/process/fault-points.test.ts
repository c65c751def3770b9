import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';

/** Runs a script that passes points a, b, a, c (printing each after it), and prints "end" from a timer. */
function run(env: Record<string, string>): { status: number | null; signal: string | null; stdout: string; points: { message: string; faultPoint: string }[] } {
  const module = path.join(packageRoot, 'dist/operator/process/fault-points.js');
  if (!existsSync(module)) throw new Error('this test runs the build: run `npm run build` first');
  const script = `
    const { faultPoint } = await import(${JSON.stringify(module)});
    setTimeout(() => process.stdout.write('end'), 100);
    for (const name of ['a', 'b', 'a', 'c']) { await faultPoint(name); process.stdout.write(name + ' '); }
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10_000 });
  const points = result.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
  return { status: result.status, signal: result.signal, stdout: result.stdout, points };
}

describe('fault points', () => {
  it('do nothing unless armed', () => {
    expect(run({})).toEqual({ status: 0, signal: null, stdout: 'a b a c end', points: [] });
  });

  it('kill the process at the N-th arrival at the named point', () => {
    const killed = run({ FLOTILLA_FAULT_POINT: 'a@2' });
    expect(killed).toMatchObject({ signal: 'SIGKILL', stdout: 'a b ' });
    expect(killed.points).toEqual([expect.objectContaining({ message: 'fault point: killing the process', faultPoint: 'a' })]);
  });

  it('hold one flow at the point while the rest of the process runs on', () => {
    const held = run({ FLOTILLA_FAULT_POINT: 'b', FLOTILLA_FAULT_ACTION: 'pause' });
    // The held flow never prints b; the timer still fires; then nothing keeps the process alive
    // (Node ends a module whose top-level await never settles with 13).
    expect(held).toMatchObject({ status: 13, stdout: 'a end' });
    expect(held.points.map((p) => p.message)).toEqual(['fault point: holding here']);
  });

  it('trace every point passed', () => {
    expect(run({ FLOTILLA_FAULT_TRACE: '1' }).points.map((p) => p.faultPoint)).toEqual(['a', 'b', 'a', 'c']);
  });
});
