import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { Summary } from '../../operator/simulate/outputs.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
const example = (file: string) => path.join(packageRoot, 'examples/heart-disease', file);

/** `flotilla simulate` as a person runs it: the built CLI, real processes, mTLS on loopback, real data. */
async function simulate(manifest: string, env: NodeJS.ProcessEnv = process.env): Promise<{ out: string; stderr: string; summary: Summary }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'flotilla-simulate-test-'));
  const { stderr } = await run(process.execPath, [cli, 'simulate', manifest, '--out', out], { env, timeout: 240_000 });
  return { out, stderr, summary: JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) };
}

describe('flotilla simulate', () => {
  const outs: string[] = [];
  afterAll(() => Promise.all(outs.map((o) => rm(o, { recursive: true, force: true }))));

  it('trains the four hospitals of the heart-disease example to the end and writes every output', async () => {
    const { out, stderr, summary } = await simulate(example('federatedjob.yaml'));
    outs.push(out);
    expect(stderr).toContain('mean test accuracy over 4 sites');
    expect(summary.status).toBe('Succeeded');
    expect(summary.strategy).toBe('FedAvg');
    expect(summary.rounds.map((r) => r.round)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(summary.rounds.every((r) => r.participants.length === 4)).toBe(true);
    // The benchmark recipe's split, site by site (FLamby Fed-Heart-Disease).
    const sites = Object.fromEntries(summary.sites.map((s) => [s.site, [s.trainSamples, s.testSamples]]));
    expect(sites).toEqual({ cleveland: [199, 104], hungarian: [172, 89], switzerland: [30, 16], va: [85, 45] });
    // Published: FedAvg 0.685, pooled training 0.735 (mean of the four test accuracies).
    expect(summary.meanTestAccuracy).toBeGreaterThan(0.74);
    expect(summary.rounds.at(-1)!.test!.loss).toBeLessThan(summary.initial!.loss);

    const { model } = await readSafetensors(path.join(out, 'model.safetensors'));
    expect(model.map((t) => [t.name, t.shape])).toEqual([
      ['weight', [1, 13]],
      ['bias', [1]],
    ]);
    const description = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8'));
    expect(description.inputs.map((i: { name: string }) => i.name)).toHaveLength(13);
    expect(description.standardize.mode).toBe('Federated');
    expect(description.standardize.mean).toHaveLength(13);
    expect((await readFile(path.join(out, 'rounds.svg'), 'utf8')).startsWith('<svg')).toBe(true);
    // The job's audit trail and each site's: whole, and the same 22 updates (statistics, 20 rounds, the final evaluation) on both sides.
    expect(summary.audit!.job).toMatchObject({ file: 'audit/job.jsonl', intact: true });
    expect(summary.audit!.sites.map((s) => [s.site, s.intact, s.matched, s.missingFromJob, s.missingFromSite])).toEqual(
      ['cleveland', 'hungarian', 'switzerland', 'va'].map((site) => [site, true, 22, [], []]),
    );
    const jobTrail = (await readFile(path.join(out, 'audit/job.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(jobTrail.filter((e) => e.event === 'update-accepted')).toHaveLength(88);
    expect(jobTrail.filter((e) => e.event === 'phase-closed').map((e) => e.phase)).toEqual(['STATISTICS', ...Array(20).fill('TRAIN'), 'EVALUATE']);
    expect((await readdir(path.join(out, 'logs'))).sort()).toEqual(
      ['aggregator', 'site-cleveland', 'site-hungarian', 'site-switzerland', 'site-va'].map((n) => `${n}.log`),
    );
  }, 300_000);

  it('runs a bring-your-own Python trainer at every site', async () => {
    const { stdout } = await run('bash', [path.join(packageRoot, 'scripts/python-env.sh')], { timeout: 600_000 });
    const pythonBin = stdout.trim().split('\n').at(-1)!;
    const { out, summary } = await simulate(example('federatedjob-python.yaml'), { ...process.env, PATH: `${pythonBin}:${process.env.PATH}` });
    outs.push(out);
    expect(summary.status).toBe('Succeeded');
    expect(summary.strategy).toBe('FedProx');
    expect(summary.rounds).toHaveLength(10);
    expect(summary.meanTestAccuracy).toBeGreaterThan(0.68);
    const { model } = await readSafetensors(path.join(out, 'model.safetensors'));
    expect(model.map((t) => t.name).sort()).toEqual(['bias', 'weight']);
  }, 900_000);

  it('refuses an invalid manifest before starting anything, naming the field', async () => {
    const bad = await mkdtemp(path.join(os.tmpdir(), 'flotilla-bad-job-'));
    outs.push(bad);
    const manifest = path.join(bad, 'job.yaml');
    const text = (await readFile(example('federatedjob.yaml'), 'utf8')).replace('minSites: 3', 'minSites: 9');
    await writeFile(manifest, text);
    const failed = await run(process.execPath, [cli, 'simulate', manifest, '--out', path.join(bad, 'out')]).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('spec.minSites: Invalid value: minSites (the quorum) cannot be larger than the number of sites');
  });
});
