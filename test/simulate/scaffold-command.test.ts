/**
 * SCAFFOLD with a bring-your-own trainer that declares trainer.controlVariates, through `flotilla
 * simulate`: the test's own command (test/support/scaffold/sgd-trainer.mjs) takes c − c_i from
 * FLOTILLA_CORRECTION_IN and says how many steps it took; the job runs end to end.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
/** A simulate run that takes longer is stopped (SIGINT: it stops its processes), so nothing outlives the test. */
const SIMULATE_MS = 240_000;

describe('SCAFFOLD with a command trainer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-scaffold-byo-'));
    await mkdir(path.join(dir, 'data'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs a bring-your-own trainer that declares control variates', async () => {
    // Three sites, each ½‖w − t_i‖² with its own target t_i: the pooled optimum is the targets' mean.
    const targets = { north: [3, 0], south: [-1, 2], east: [1, 4] };
    for (const [site, target] of Object.entries(targets)) await writeFile(path.join(dir, 'data', `${site}.json`), JSON.stringify({ target, steps: 5 }));
    const names = Object.keys(targets);
    const job = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'FederatedJob',
      metadata: { name: 'byo-scaffold', namespace: 'non-iid' },
      spec: {
        sites: { names, overrides: names.map((site) => ({ site, data: { path: `data/${site}.json` } })) },
        rounds: 2,
        minSites: 3,
        roundDeadlineSeconds: 30,
        heartbeatTimeoutSeconds: 20,
        strategy: { name: 'SCAFFOLD' },
        trainer: {
          command: [process.execPath, path.join(packageRoot, 'test/support/scaffold/sgd-trainer.mjs')],
          image: 'registry.example.org/scaffold/sgd:1',
          controlVariates: true,
          timeoutSeconds: 60,
          localEpochs: 1,
          batchSize: 1,
          learningRate: 0.5,
        },
      },
    };
    const file = path.join(dir, 'byo-scaffold.yaml');
    await writeFile(file, YAML.stringify(job));
    const out = path.join(dir, 'byo-scaffold-out');
    const child = spawn(process.execPath, [cli, 'simulate', file, '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: SIMULATE_MS,
      killSignal: 'SIGINT',
      env: { ...process.env, SAFETENSORS_MODULE: pathToFileURL(path.join(packageRoot, 'dist/operator/federation/safetensors.js')).href },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`simulate exited ${code}: ${stderr}`);
    const w = (await readSafetensors(path.join(out, 'model.safetensors'))).model;
    expect(w.map((t) => t.name)).toEqual(['w']);
    // The job runs end to end with the command's corrected steps (scaffold-trainer.test.ts checks
    // them against the formula), c stays out of the final model, and the model ends at the optimum.
    const optimum = [1, 2];
    expect(Math.hypot(...[...w[0]!.data].map((v, j) => v - optimum[j]!))).toBeLessThan(0.05);
  }, 300_000);
});
