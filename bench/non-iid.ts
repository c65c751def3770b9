/**
 * npm run bench:non-iid [-- --seeds 5]
 *
 * FedAvg against SCAFFOLD on the heart-disease example (examples/heart-disease/federatedjob.yaml,
 * the four real hospitals), over several job seeds, in two recipes: the example's, and the
 * benchmark's usual local standardisation with 3 local epochs. Each figure is one `flotilla
 * simulate`; the table (mean ± sd over the seeds of the mean per-hospital test accuracy, the worst
 * hospital's, the final test loss, and every seed's figure) goes into docs/non-iid.md between its
 * results markers. `--print` prints it without touching the doc.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { root, simulateOnce, writeTable } from './simulate-runs.js';

const example = path.join(root, 'examples/heart-disease/federatedjob.yaml');
const docs = path.join(root, 'docs/non-iid.md');
const STRATEGIES = ['FedAvg', 'SCAFFOLD'] as const;

/** The parts of the example's spec a recipe changes. */
interface Spec {
  trainer: { localEpochs: number; builtin: { dataset: { standardize: string } } };
}

interface Recipe {
  label: string;
  /** Changes to the example's spec beside the strategy and the seed. */
  apply(spec: Spec): void;
}

const recipes: Recipe[] = [
  { label: "the example's (1 local epoch, federated standardisation, 20 rounds)", apply: () => undefined },
  {
    label: 'local standardisation, 3 local epochs, 20 rounds',
    apply: (spec) => {
      spec.trainer.localEpochs = 3;
      spec.trainer.builtin.dataset.standardize = 'Local';
    },
  },
];

interface Figures {
  accuracy: number;
  worst: number;
  loss: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));

async function figuresOf(text: string, recipe: Recipe, strategy: string, seed: number): Promise<Figures> {
  const job = YAML.parse(text);
  job.spec.strategy = { name: strategy };
  job.spec.seed = seed;
  recipe.apply(job.spec);
  const { summary } = await simulateOnce(YAML.stringify(job), example);
  if (summary.status !== 'Succeeded') throw new Error(`${strategy}, seed ${seed}: the job ended ${summary.status}: ${summary.reason}`);
  const accuracies = summary.sites.map((s) => s.testAccuracy).filter((a): a is number => a !== null);
  const loss = summary.rounds.at(-1)?.test?.loss;
  if (summary.meanTestAccuracy === null || accuracies.length !== summary.sites.length || loss === undefined) throw new Error(`${strategy}, seed ${seed}: the summary has no test figures`);
  return { accuracy: summary.meanTestAccuracy, worst: Math.min(...accuracies), loss };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string', default: '5' }, print: { type: 'boolean', default: false } } });
  const seeds = [...Array(Number(values.seeds)).keys()];
  const text = await readFile(example, 'utf8');
  const rows: string[] = [];
  const perSeed: string[] = [];
  for (const recipe of recipes) {
    const runs: Record<string, Figures[]> = {};
    for (const strategy of STRATEGIES) {
      runs[strategy] = [];
      for (const seed of seeds) {
        const f = await figuresOf(text, recipe, strategy, seed);
        process.stdout.write(`${recipe.label}, ${strategy}, seed ${seed}: accuracy ${f.accuracy.toFixed(3)}, worst ${f.worst.toFixed(3)}, loss ${f.loss.toFixed(3)}\n`);
        runs[strategy].push(f);
      }
    }
    const [a, s] = [runs.FedAvg!, runs.SCAFFOLD!];
    const acc = (xs: Figures[]) => `${mean(xs.map((x) => x.accuracy)).toFixed(3)} ± ${sd(xs.map((x) => x.accuracy)).toFixed(3)}`;
    const arrow = (key: 'worst' | 'loss') => `${mean(a.map((x) => x[key])).toFixed(3)} → ${mean(s.map((x) => x[key])).toFixed(3)}`;
    const ahead = seeds.filter((i) => s[i]!.accuracy > a[i]!.accuracy).length;
    rows.push(`| ${recipe.label} | ${acc(a)} | ${acc(s)} | ${ahead} of ${seeds.length} | ${arrow('worst')} | ${arrow('loss')} |`);
    const list = (xs: Figures[]) => xs.map((x) => x.accuracy.toFixed(3)).join(' ');
    perSeed.push(`- ${recipe.label}: FedAvg ${list(a)}; SCAFFOLD ${list(s)}`);
  }
  const table = [
    `| recipe | FedAvg | SCAFFOLD | seeds SCAFFOLD is ahead | worst hospital, FedAvg → SCAFFOLD | final test loss, FedAvg → SCAFFOLD |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Mean per-hospital test accuracy of each seed (${seeds.join(', ')}):`,
    '',
    ...perSeed,
  ];
  if (values.print) return void process.stdout.write(table.join('\n') + '\n');
  await writeTable(docs, 'non-iid', table);
}

await main();
