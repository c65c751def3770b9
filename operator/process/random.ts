/**
 * Seeded randomness for everything the job's seed decides: model initialisation, data splits,
 * shuffling, site selection. Same seed, same numbers, on every machine and Node version
 * (Math.random cannot be seeded).
 */

/** A uniform draw in [0, 1). */
export type Rng = () => number;

/** splitmix32: spreads a seed over the state of the main generator (as xoshiro's authors advise). */
function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** xoshiro128** (Blackman and Vigna): small, fast, and passes BigCrush; 32 bits per draw. */
export function rng(seed: number): Rng {
  let s = seed >>> 0;
  const state = new Uint32Array(4);
  for (let i = 0; i < 4; i++) [s, state[i]] = splitmix32(s);
  return () => {
    const s0 = state[0]!;
    const s1 = state[1]!;
    const s2 = state[2]!;
    const s3 = state[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    state[2] = s2 ^ s0;
    state[3] = s3 ^ s1;
    state[1] = s1 ^ state[2];
    state[0] = s0 ^ state[3];
    state[2] = state[2] ^ t;
    state[3] = rotl(state[3], 11);
    return result / 0x100000000;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A uniform integer in [0, n). */
export function uniformInt(random: Rng, n: number): number {
  return Math.floor(random() * n);
}

/** Fisher-Yates, in place; returns its argument. */
export function shuffle<T extends { length: number; [i: number]: unknown }>(items: T, random: Rng): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = uniformInt(random, i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** A standard normal draw (Box-Muller). */
export function normal(random: Rng): number {
  const u = 1 - random(); // in (0, 1]: log(u) is finite
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A seed for one purpose, derived from the job's seed and names (for example 'split', site), so that
 * each site, round and purpose draws its own independent, reproducible stream. FNV-1a over a
 * length-prefixed encoding of the parts (so ('ab','c') and ('a','bc') differ), then murmur3's
 * finaliser for avalanche. Returns a uint32.
 */
export function deriveSeed(jobSeed: number, ...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  const feed = (text: string): void => {
    const bytes = new TextEncoder().encode(text);
    for (const b of [...lengthBytes(bytes.length), ...bytes]) h = Math.imul(h ^ b, 0x01000193);
  };
  feed(String(jobSeed >>> 0));
  for (const part of parts) feed(typeof part === 'number' ? `#${part}` : `$${part}`);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function lengthBytes(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
