/**
 * npm run bench:robust
 *
 * What robust aggregation costs the aggregator: for each rule and a growing number of updates n of a
 * model of P parameters, a fresh process spills n updates through SpillIntake (as they arrive over
 * the wire, in 1 MiB chunks) and aggregates them block by block. It prints the process's peak RSS
 * beside the target (the model, the result and a block, whatever n) and beside what holding n models
 * would take, and the time of each step.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { specOf, type Model } from '../operator/federation/model.js';
import { tensorChunks } from '../operator/federation/tensor-stream.js';
import { createRobustRule, type RobustSettings } from '../operator/aggregator/robust-rules.js';
import { SpillIntake } from '../operator/aggregator/spill-intake.js';
import { SpilledRound } from '../operator/aggregator/spilled-round.js';

const run = promisify(execFile);
const self = fileURLToPath(import.meta.url);
const MiB = 1 << 20;
const PARAMETERS = 1 << 20;
const BLOCK_BYTES = 16 << 20;

const rules: Record<string, RobustSettings> = {
  Median: { rule: 'Median' },
  TrimmedMean: { rule: 'TrimmedMean', trimFraction: 0.2 },
  Krum: { rule: 'Krum', hostileSites: 1 },
};

/** What this process took beyond `baseline` at its peak. */
const grownMiB = (baseline: number) => (process.resourceUsage().maxRSS * 1024 - baseline) / MiB;

const global: Model = [{ name: 'w', shape: [PARAMETERS], data: new Float32Array(PARAMETERS).fill(0.5) }];
const spillPath = (dir: string, i: number) => path.join(dir, `site-${i}.spill`);

/** n sites' updates in turn, spilled through SpillIntake as the wire brings them: one 1 MiB chunk at a time. */
async function spill(dir: string, n: number): Promise<void> {
  const update = new Float32Array(PARAMETERS);
  const round = new SpilledRound(createRobustRule(rules.Median)!, undefined, BLOCK_BYTES);
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < PARAMETERS; j++) update[j] = 0.5 + Math.sin(i * 7919 + j) * 0.01;
    const intake = new SpillIntake(specOf(global), global, round, `site-${i}`, spillPath(dir, i), () => {});
    for (const chunk of tensorChunks([update], MiB)) {
      // A buffer of its own per message, as gRPC hands them over.
      intake.take({ ...chunk, data: Buffer.from(chunk.data) });
      await intake.drained();
    }
    await intake.finish();
    intake.commit();
  }
  process.stdout.write(JSON.stringify({ grownMiB: grownMiB(baseline), seconds: (performance.now() - started) / 1000 }) + '\n');
}

/** The rule over the n spilled updates, block by block. */
async function aggregate(dir: string, ruleName: string, n: number): Promise<void> {
  const round = new SpilledRound(createRobustRule(rules[ruleName])!, undefined, BLOCK_BYTES);
  for (let i = 0; i < n; i++) round.add({ site: `site-${i}`, path: spillPath(dir, i), norm: 0 });
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  await round.aggregate(global);
  process.stdout.write(JSON.stringify({ grownMiB: grownMiB(baseline), seconds: (performance.now() - started) / 1000 }) + '\n');
}

/** One step in a process of its own, so that its peak RSS is its own. */
async function step(...args: string[]): Promise<{ grownMiB: number; seconds: number }> {
  const { stdout } = await run(process.execPath, [self, ...args], { maxBuffer: MiB });
  return JSON.parse(stdout) as { grownMiB: number; seconds: number };
}

async function main(): Promise<void> {
  const modelMiB = (PARAMETERS * 4) / MiB;
  // Beyond the global model (held before): the result (float64), one block of n rows, its float32
  // read buffer (at most half a block, at n = 1) and 8 MiB for the runtime's own.
  const targetMiB = 2 * modelMiB + BLOCK_BYTES / MiB + BLOCK_BYTES / 2 / MiB + 8;
  console.log(`model: ${PARAMETERS} parameters (${modelMiB} MiB as float32); block: ${BLOCK_BYTES / MiB} MiB`);
  console.log(`target: aggregating grows RSS by at most ${targetMiB} MiB (result + block + read buffer + runtime) whatever n; never n × model`);
  console.log('spilling holds one update in flight; its peak also counts the received messages the garbage collector has not taken yet\n');
  console.log('| rule | n | n × model (MiB) | peak RSS growth spilling (MiB) | peak RSS growth aggregating (MiB) | target (MiB) | spill (s) | aggregate (s) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const n of [4, 16, 64]) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-bench-robust-'));
    try {
      const spilled = await step('spill', dir, String(n));
      for (const rule of Object.keys(rules)) {
        const r = await step('aggregate', dir, rule, String(n));
        const mark = r.grownMiB <= targetMiB ? '' : ' (missed)';
        console.log(
          `| ${rule} | ${n} | ${n * modelMiB} | ${spilled.grownMiB.toFixed(0)} | ${r.grownMiB.toFixed(0)}${mark} | ${targetMiB} | ${spilled.seconds.toFixed(2)} | ${r.seconds.toFixed(2)} |`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[2] === 'spill') await spill(process.argv[3]!, Number(process.argv[4]));
else if (process.argv[2] === 'aggregate') await aggregate(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
else await main();
