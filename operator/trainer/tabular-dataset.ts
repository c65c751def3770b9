import { readFile } from 'node:fs/promises';
import { encodedFeatureNames, type DatasetSpec } from './builtin-spec.js';
import { deriveSeed, rng, shuffle, type Rng } from '../process/random.js';

/** Rows of encoded features, row-major, with their binary labels. */
export interface Split {
  /** rows × features, row-major. */
  x: Float64Array;
  /** 0 or 1 per row. */
  y: Float64Array;
  rows: number;
}

export interface TabularDataset {
  featureNames: string[];
  features: number;
  train: Split;
  test: Split;
  /** Records read, and records dropped for a missing value in a column in use. */
  recordsRead: number;
  recordsDropped: number;
}

/**
 * A site's records, read and split as the dataset spec says. The split is seeded by the job's seed
 * and the site's name, so it is the same in every round and every restart, and differs between sites.
 */
export async function loadTabularDataset(
  path: string,
  dataset: DatasetSpec,
  jobSeed: number,
  site: string,
): Promise<TabularDataset> {
  const text = await readFile(path, 'utf8');
  const { x, y, rows, recordsRead } = encodeRecords(text, dataset, path);
  const featureNames = encodedFeatureNames(dataset.features);
  const testRows = Math.ceil(dataset.testFraction * rows);
  if (rows - testRows < 1) {
    throw new Error(`${path}: ${rows} usable record(s) leave none to train on after holding out ${testRows} for testing`);
  }
  const random = rng(deriveSeed(jobSeed, 'split', site));
  const testIndex = dataset.stratify && stratifiable(y) ? stratifiedTestRows(y, testRows, random) : shuffle(range(rows), random).slice(0, testRows);
  const inTest = new Uint8Array(rows);
  for (const i of testIndex) inTest[i] = 1;
  const trainIndex = range(rows).filter((i) => inTest[i] === 0);
  const features = featureNames.length;
  return {
    featureNames,
    features,
    train: take(x, y, features, trainIndex),
    test: take(x, y, features, [...testIndex].sort((a, b) => a - b)),
    recordsRead,
    recordsDropped: recordsRead - rows,
  };
}

/** Parses the CSV: drops records missing a value in a column in use, binarises the label, one-hot encodes. */
function encodeRecords(text: string, dataset: DatasetSpec, path: string) {
  const missing = new Set(dataset.missingValues);
  const featureNames = encodedFeatureNames(dataset.features);
  const lines = text.split('\n');
  const x: number[] = [];
  const y: number[] = [];
  let recordsRead = 0;
  const usedColumns = [dataset.label.column, ...dataset.features.map((f) => f.column)];
  for (let n = dataset.header ? 1 : 0; n < lines.length; n++) {
    const line = lines[n]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    recordsRead++;
    const cells = line.split(',').map((c) => c.trim());
    const values = new Map<number, number>();
    let complete = true;
    for (const column of usedColumns) {
      const cell = cells[column];
      if (cell === undefined) throw new Error(`${path}:${n + 1}: no column ${column} (the record has ${cells.length})`);
      if (missing.has(cell)) {
        complete = false;
        break;
      }
      const value = Number(cell);
      if (cell === '' || !Number.isFinite(value)) {
        throw new Error(`${path}:${n + 1}: column ${column} is ${JSON.stringify(cell)}, not a number nor a missing value (${[...missing].map((m) => JSON.stringify(m)).join(', ')})`);
      }
      values.set(column, value);
    }
    if (!complete) continue;
    y.push(values.get(dataset.label.column)! > dataset.label.positiveAbove ? 1 : 0);
    for (const f of dataset.features) {
      const value = values.get(f.column)!;
      if (f.oneHot) for (const level of f.oneHot) x.push(value === level ? 1 : 0);
      else x.push(value);
    }
  }
  if (y.length === 0) throw new Error(`${path}: no usable record (${recordsRead} read, all missing a value in a column in use)`);
  if (x.length !== y.length * featureNames.length) throw new Error('internal: encoded width mismatch');
  return { x: Float64Array.from(x), y: Float64Array.from(y), rows: y.length, recordsRead };
}

/** Stratify only when every class has more than 2 records (as the benchmark does: Switzerland has one negative). */
function stratifiable(y: Float64Array): boolean {
  const positives = y.reduce((n, v) => n + v, 0);
  return positives > 2 && y.length - positives > 2;
}

/**
 * testRows rows drawn so that each class keeps its share: each class gets the floor of its share,
 * and the rows left over go to the classes with the largest remainders (ties to the larger class).
 */
function stratifiedTestRows(y: Float64Array, testRows: number, random: Rng): number[] {
  const classes = [0, 1].map((label) => shuffle(range(y.length).filter((i) => y[i] === label), random));
  const shares = classes.map((rows) => (testRows * rows.length) / y.length);
  const counts = shares.map(Math.floor);
  const byRemainder = [0, 1].sort((a, b) => shares[b]! - counts[b]! - (shares[a]! - counts[a]!) || classes[b]!.length - classes[a]!.length);
  for (let left = testRows - counts[0]! - counts[1]!, k = 0; left > 0; left--, k++) counts[byRemainder[k % 2]!]!++;
  return classes.flatMap((rows, label) => rows.slice(0, counts[label]));
}

function take(x: Float64Array, y: Float64Array, features: number, index: readonly number[]): Split {
  const out: Split = { x: new Float64Array(index.length * features), y: new Float64Array(index.length), rows: index.length };
  index.forEach((from, to) => {
    out.x.set(x.subarray(from * features, (from + 1) * features), to * features);
    out.y[to] = y[from]!;
  });
  return out;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
