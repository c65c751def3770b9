import { deriveSeed, normal, rng, shuffle, uniformInt } from './random.js';

describe('rng', () => {
  it('draws the xoshiro128** stream seeded by splitmix32 (values from an independent Python port)', () => {
    const random = rng(0);
    expect([random(), random(), random()]).toEqual([0.8868539538234472, 0.26395898405462503, 0.012474989285692573]);
    const other = rng(42);
    expect([other(), other(), other()]).toEqual([0.6606157226487994, 0.12688010395504534, 0.11170196393504739]);
  });

  it('is uniform on [0, 1)', () => {
    const random = rng(7);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const u = random();
      expect(u >= 0 && u < 1).toBe(true);
      bins[Math.floor(u * 10)]!++;
    }
    for (const count of bins) expect(Math.abs(count - 10_000)).toBeLessThan(400); // ~4 sd
  });

  it('gives integers in range and standard normal draws', () => {
    const random = rng(3);
    const ints = Array.from({ length: 1000 }, () => uniformInt(random, 6));
    expect(new Set(ints)).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    const xs = Array.from({ length: 50_000 }, () => normal(random));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    expect(xs.every(Number.isFinite)).toBe(true);
  });
});

describe('shuffle', () => {
  it('permutes in place, the same way for the same seed, typed arrays too', () => {
    const a = shuffle(Array.from({ length: 50 }, (_, i) => i), rng(1));
    const b = shuffle(Array.from({ length: 50 }, (_, i) => i), rng(1));
    const c = shuffle(Uint32Array.from({ length: 50 }, (_, i) => i), rng(2));
    expect(a).toEqual(b);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...c].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...c]).not.toEqual(a);
  });
});

describe('deriveSeed', () => {
  it('is a stable uint32 of the job seed and the parts', () => {
    expect(deriveSeed(0, 'split', 'cleveland')).toBe(903293602);
    expect(deriveSeed(7, 'train', 3, 'va')).toBe(2765921563);
  });

  it('separates parts, kinds and seeds', () => {
    const seeds = [
      deriveSeed(0, 'ab', 'c'),
      deriveSeed(0, 'a', 'bc'),
      deriveSeed(0, 'round', 1),
      deriveSeed(0, 'round', '1'),
      deriveSeed(1, 'round', 1),
      deriveSeed(0, 'round', 2),
      deriveSeed(0),
    ];
    expect(new Set(seeds).size).toBe(seeds.length);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s <= 0xffffffff).toBe(true);
  });
});
