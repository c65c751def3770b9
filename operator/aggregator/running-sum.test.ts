import type { Model } from '../federation/model.js';
import { OutOfRange, RunningSum } from './running-sum.js';

const modelOf = (values: number[]): Model => [{ name: 'w', shape: [values.length], data: Float32Array.from(values) }];

describe('RunningSum', () => {
  it('keeps each element as the nearest integer in units of 2^-F, ties to even', () => {
    const sum = new RunningSum(modelOf([0, 0, 0, 0, 0, 0]), 4);
    const unit = 2 ** -sum.fractionBits;
    // 0.5, 1.5, 2.5 and -2.5 units are ties; 0.75 and -1.25 are not.
    sum.fold(0, 0, Float32Array.from([0.5, 1.5, 2.5, -2.5, 0.75, -1.25].map((u) => u * unit)), 1);
    expect([...sum.sums[0]!]).toEqual([0, 2, 2, -2, 1, -1]);
  });

  it('takes the deltas against the global model, weighted, and unfold is the exact inverse whatever came between', () => {
    const global = modelOf([1, -2, 3]);
    const sum = new RunningSum(global, 2);
    const a = Float32Array.from([1.1, -2.3, 3.7]);
    const b = Float32Array.from([0.123456, 5.5, -7.25]);
    sum.fold(0, 0, a, 3);
    const aOnly = Float64Array.from(sum.sums[0]!);
    sum.fold(0, 0, b, 1000);
    sum.unfold(0, 0, a, 3);
    sum.fold(0, 0, a, 3);
    sum.unfold(0, 0, b, 1000);
    expect([...sum.sums[0]!]).toEqual([...aOnly]);
    const values = [...aOnly].map((q) => q * 2 ** -sum.fractionBits);
    [0.1, -0.3, 0.7].forEach((delta, i) => expect(values[i]).toBeCloseTo(3 * delta, 5));
  });

  it('accepts a delta at the limit, refuses one past it or not finite, and leaves the sum as it was', () => {
    const sum = new RunningSum(modelOf([0, 0, 0]), 1000);
    const unit = 2 ** -sum.fractionBits;
    const atLimit = Math.fround(sum.limit * 0.99999); // a float32 just within the limit
    sum.fold(0, 0, Float32Array.from([atLimit, 1, 2]), 1);
    const before = [...sum.sums[0]!];
    expect(before[0]).toBe(Math.round(atLimit / unit));
    for (const bad of [sum.limit * 2, -sum.limit * 2, NaN, Infinity, -Infinity]) {
      expect(() => sum.fold(0, 0, Float32Array.from([1, 2, bad]), 1)).toThrow(OutOfRange);
      expect([...sum.sums[0]!]).toEqual(before);
    }
  });

  it('folds four elements a step as it would one at a time, and a refusal anywhere in a chunk names its element and leaves the sum as it was', () => {
    const n = 23; // five whole steps and a tail of three
    const global = modelOf(Array.from({ length: n }, (_, i) => Math.sin(i)));
    const sum = new RunningSum(global, 3);
    const update = Float32Array.from({ length: n }, (_, i) => Math.sin(i) + Math.cos(7 * i) / 10);
    const squares = sum.fold(0, 0, update, 17);
    const unit = 2 ** sum.fractionBits;
    const one = (i: number) => update[i]! - global[0]!.data[i]!;
    // Nearest, ties to even (as the first test shows).
    const nearest = (x: number) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));
    expect([...sum.sums[0]!]).toEqual(Array.from({ length: n }, (_, i) => nearest(one(i) * 17 * unit)));
    expect(squares).toBeCloseTo(Array.from({ length: n }, (_, i) => one(i) ** 2).reduce((a, b) => a + b), 12);
    const before = [...sum.sums[0]!];
    // The first element, one inside a later step, the last of a step, one in the tail.
    for (const at of [0, 9, 15, 21]) {
      const bad = Float32Array.from(update);
      bad[at] = NaN;
      let thrown: unknown;
      try {
        sum.fold(0, 0, bad, 17);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(OutOfRange);
      expect((thrown as OutOfRange).element).toBe(at);
      expect([...sum.sums[0]!]).toEqual(before);
    }
    // At an offset into the tensor too: the element is the tensor's, not the chunk's.
    const tail = Float32Array.from(update.subarray(6));
    tail[5] = Infinity;
    expect(() => sum.fold(0, 6, tail, 17)).toThrow(expect.objectContaining({ element: 11 }) as Error);
    expect([...sum.sums[0]!]).toEqual(before);
    sum.unfold(0, 0, update, 17);
    expect(sum.sums[0]!.every((q) => q === 0)).toBe(true);
  });

  it('keeps a sum of the most updates it was made for exact (no element beyond 2^53)', () => {
    const sites = 5;
    const sum = new RunningSum(modelOf([0]), sites);
    const largest = Math.fround(sum.limit * (1 - 2 ** -20));
    for (let i = 0; i < sites; i++) sum.fold(0, 0, Float32Array.from([largest]), 1);
    expect(Math.abs(sum.sums[0]![0]!)).toBeLessThan(2 ** 53);
    expect(Number.isInteger(sum.sums[0]![0]!)).toBe(true);
    for (let i = 0; i < sites; i++) sum.unfold(0, 0, Float32Array.from([largest]), 1);
    expect(sum.sums[0]![0]).toBe(0);
  });

  it('keeps at least two bits of headroom, so a job of one site rounds exactly too', () => {
    expect(new RunningSum(modelOf([0]), 1).fractionBits).toBe(24);
    expect(new RunningSum(modelOf([0]), 4).fractionBits).toBe(24);
    expect(new RunningSum(modelOf([0]), 20).fractionBits).toBe(21);
    const one = new RunningSum(modelOf([0]), 1);
    const value = Math.fround(one.limit * 0.999);
    one.fold(0, 0, Float32Array.from([value]), 1);
    expect(one.sums[0]![0]).toBe(Math.round(value * 2 ** one.fractionBits));
  });
});
