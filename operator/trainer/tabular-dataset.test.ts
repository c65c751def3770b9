import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetSpec } from './builtin-spec.js';
import { loadTabularDataset, type Split } from './tabular-dataset.js';
import { standardizationFrom, standardize, statisticsOf } from './standardization.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-dataset-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function csv(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Columns: 0 age, 1 colour (categorical), 2 unused, 3 outcome (0..3). */
const spec: DatasetSpec = {
  header: true,
  missingValues: ['?', ''],
  label: { column: 3, positiveAbove: 1 },
  features: [
    { name: 'age', column: 0 },
    { name: 'colour', column: 1, oneHot: [2, 3] },
  ],
  testFraction: 0.34,
  stratify: true,
  standardize: 'Local',
};

const rowsOf = (s: Split, features: number) =>
  Array.from({ length: s.rows }, (_, r) => [...s.x.subarray(r * features, (r + 1) * features), s.y[r]!]);

describe('loadTabularDataset', () => {
  it('drops records missing a used column, binarises the label and one-hot encodes, CRLF and blank lines too', async () => {
    const path = await csv(
      'small.csv',
      'age,colour,note,outcome\r\n50,1,?,0\r\n60,2,x,2\r\n?,3,x,1\r\n70,3,,3\r\n80,9,x,1\r\n\r\n90,2,x,\r\n',
    );
    const data = await loadTabularDataset(path, { ...spec, testFraction: 0.2 }, 0, 'a');
    expect(data.featureNames).toEqual(['age', 'colour=2', 'colour=3']);
    expect(data.recordsRead).toBe(6);
    expect(data.recordsDropped).toBe(2); // age '?', outcome ''; the unused column's '?' and '' do not count
    expect(data.test.rows).toBe(1); // ceil(0.2 × 4)
    const all = [...rowsOf(data.train, 3), ...rowsOf(data.test, 3)].sort((a, b) => a[0]! - b[0]!);
    expect(all).toEqual([
      [50, 0, 0, 0],
      [60, 1, 0, 1],
      [70, 0, 1, 1],
      [80, 0, 0, 0], // level 9 is not listed: all zeros; outcome 1 is not above 1
    ]);
  });

  it('splits ceil(testFraction × n), stratified, the same for the same job seed and site', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `${i},2,x,${i < 30 ? 3 : 0}`);
    const path = await csv('strat.csv', `h\n${lines.join('\n')}\n`);
    const a = await loadTabularDataset(path, spec, 5, 'site-a');
    const again = await loadTabularDataset(path, spec, 5, 'site-a');
    const otherSite = await loadTabularDataset(path, spec, 5, 'site-b');
    const otherSeed = await loadTabularDataset(path, spec, 6, 'site-a');
    expect([a.train.rows, a.test.rows]).toEqual([66, 34]);
    // 34 × 30% = 10.2 positives: 10, and 24 negatives.
    expect(a.test.y.reduce((n, v) => n + v, 0)).toBe(10);
    expect(a.test.x).toEqual(again.test.x);
    expect(otherSite.test.x).not.toEqual(a.test.x);
    expect(otherSeed.test.x).not.toEqual(a.test.x);
    // Train and test partition the records.
    const ages = [...rowsOf(a.train, 3), ...rowsOf(a.test, 3)].map((r) => r[0]).sort((x, y) => x! - y!);
    expect(ages).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('does not stratify when a class has 2 records or fewer', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `${i},2,x,${i < 2 ? 0 : 3}`);
    const path = await csv('rare.csv', `h\n${lines.join('\n')}\n`);
    const seen = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const d = await loadTabularDataset(path, spec, seed, 's');
      expect(d.test.rows).toBe(14);
      seen.add(d.test.y.reduce((n, v) => n + v, 0));
    }
    expect(seen.size).toBeGreaterThan(1); // the 2 negatives land in the test set or not, by chance
  });

  it('refuses what it cannot read, with the file and line', async () => {
    const bad = await csv('bad.csv', 'h\n1,2,x,0\n1,abc,x,0\n');
    await expect(loadTabularDataset(bad, spec, 0, 's')).rejects.toThrow(/bad\.csv:3: column 1 is "abc"/);
    const short = await csv('short.csv', 'h\n1,2\n');
    await expect(loadTabularDataset(short, spec, 0, 's')).rejects.toThrow(/short\.csv:2: no column 3/);
    const tiny = await csv('tiny.csv', 'h\n1,2,x,0\n');
    await expect(loadTabularDataset(tiny, spec, 0, 's')).rejects.toThrow(/none to train on/);
    const empty = await csv('empty.csv', 'h\n?,2,x,0\n');
    await expect(loadTabularDataset(empty, spec, 0, 's')).rejects.toThrow(/no usable record/);
  });
});

describe('standardisation', () => {
  const split = (rows: number[][]): Split => ({ x: Float64Array.from(rows.flat()), y: new Float64Array(rows.length), rows: rows.length });

  it('gets the pooled mean and std from the sum of the sites statistics', () => {
    const siteA = split([[1, 0], [2, 1], [3, 0]]);
    const siteB = split([[10, 1], [20, 1]]);
    const sum = statisticsOf(siteA, 2).map((v, i) => v + statisticsOf(siteB, 2)[i]!);
    expect([...sum]).toEqual([5, 36, 3, 514, 3]);
    const s = standardizationFrom(sum, [true, true]);
    const pooled = [1, 2, 3, 10, 20];
    const mean = pooled.reduce((a, b) => a + b) / 5;
    const std = Math.sqrt(pooled.reduce((a, x) => a + (x - mean) ** 2, 0) / 5);
    expect(s.mean[0]).toBeCloseTo(mean, 12);
    expect(s.std[0]).toBeCloseTo(std + 1e-9, 12);
    const z = standardize(siteB, s);
    expect(z.x[0]).toBeCloseTo((10 - mean) / (std + 1e-9), 12);
  });

  it('leaves unstandardised and constant features unscaled', () => {
    const train = split([[250, 1, 0], [250, 0, 0], [250, 1, 0]]);
    const s = standardizationFrom(statisticsOf(train, 3), [true, false, true]);
    expect([...s.mean, ...s.std]).toEqual([250, 0, 0, 1, 1, 1]);
    expect([...standardize(train, s).x]).toEqual([0, 1, 0, 0, 0, 0, 0, 1, 0]);
    // A test record unlike every training record stays finite and moderate, not ±1e9.
    expect([...standardize(split([[260, 1, 1]]), s).x]).toEqual([10, 1, 1]);
  });

  it('refuses statistics of the wrong length or with no record', () => {
    expect(() => standardizationFrom(new Float64Array(4), [true, true])).toThrow(/5 expected for 2 features/);
    expect(() => standardizationFrom(new Float64Array(5), [true, true])).toThrow(/no record/);
  });
});
