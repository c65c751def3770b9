import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';
import { epsilonFor } from './accountant.js';

/** The built program, run as a user runs it. */
function flotilla(...args: string[]) {
  const run = spawnSync(process.execPath, [path.join(packageRoot, 'dist/operator/cli/main.js'), 'privacy', ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('flotilla privacy', () => {
  it('gives the accountant’s epsilon for a noise multiplier', () => {
    const run = flotilla('--noise-multiplier', '1.1', '--sampling-rate', '0.1', '--rounds', '100', '--delta', '1e-5', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const answer = JSON.parse(run.stdout);
    expect(answer.epsilon).toBe(epsilonFor(0.1, 1.1, 100, 1e-5).epsilon);
    expect(answer.epsilon).toBeGreaterThan(1);
    expect(answer.epsilon).toBeLessThan(10);
    const text = flotilla('--noise-multiplier', '1.1', '--sampling-rate', '0.1', '--rounds', '100', '--delta', '1e-5');
    expect(text.stdout).toMatch(new RegExp(`^ε = ${answer.epsilon.toPrecision(5)} after 100 rounds, sampling rate 0.1, δ = 0.00001 .*noise multiplier 1.1\\n$`));
  });

  it('gives the noise multiplier a target epsilon needs, which meets it', () => {
    const run = flotilla('--target-epsilon', '2', '--sampling-rate', '0.5', '--rounds', '20', '--delta', '1e-5', '--json');
    expect(run.code).toBe(0);
    const answer = JSON.parse(run.stdout);
    expect(answer.epsilon).toBeLessThanOrEqual(2);
    expect(answer.epsilon).toBeGreaterThan(1.99);
    expect(epsilonFor(0.5, answer.noiseMultiplier * 0.999, 20, 1e-5).epsilon).toBeGreaterThan(2);
  });

  it.each([
    [['--noise-multiplier', '1', '--rounds', '10'], /--delta is required/],
    [['--noise-multiplier', '1', '--delta', '1e-5'], /--rounds is required/],
    [['--rounds', '10', '--delta', '1e-5'], /exactly one of --noise-multiplier .* and --target-epsilon/],
    [['--noise-multiplier', '1', '--target-epsilon', '1', '--rounds', '10', '--delta', '1e-5'], /exactly one of/],
    [['--noise-multiplier', '1', '--rounds', '10', '--delta', '2'], /--delta must be a number in \(0, 1\), not '2'/],
    [['--noise-multiplier=-1', '--rounds', '10', '--delta', '1e-5'], /--noise-multiplier must be a number > 0, not '-1'/],
    [['--noise-multiplier', '1', '--rounds', '2.5', '--delta', '1e-5'], /--rounds must be a whole number ≥ 1, not '2.5'/],
    [['--noise-multiplier', '1', '--rounds', '10', '--delta', '1e-5', '--sampling-rate', 'half'], /--sampling-rate must be a number in \(0, 1\], not 'half'/],
    [['--noise-multiplier', '1', '--rounds', '10', '--delta', '1e-5', '--epsilon', '3'], /Unknown option '--epsilon'/],
  ])('refuses %j clearly', (args, message) => {
    const run = flotilla(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
  });
});
