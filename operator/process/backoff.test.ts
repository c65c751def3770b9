import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles up to its cap, jittered between half and all of it, and starts over after a success', () => {
    const low = new Backoff(100, 1_000, () => 0);
    expect([1, 2, 3, 4, 5, 6].map(() => low.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const high = new Backoff(100, 1_000, () => 0.999_999);
    expect(Math.round(high.next())).toBe(100);
    high.next();
    high.reset();
    expect(Math.round(high.next())).toBe(100);
  });
});
