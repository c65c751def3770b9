/**
 * Arithmetic in log space and the complementary error function, for the accountant: its sums span
 * hundreds of orders of magnitude, so they are added as logarithms, and erfc is needed far in its
 * tail (where 1 − erf would round to 0).
 */

/** log(exp(a) + exp(b)). */
export function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (lo === -Infinity) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * log(erfc(x)) to about 1e-14 relative. For x < 2.5 from erf's series of positive terms,
 * erf(x) = 2/√π·e^{−x²}·Σ 2ⁿx^{2n+1}/(1·3·…·(2n+1)), which has no cancellation; beyond, from the
 * continued fraction erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated
 * with the modified Lentz method, kept in log space so that it never underflows.
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) {
    // erfc(x) = 2 − erfc(−x), between 1 and 2: no precision lost.
    return Math.log(2 - Math.exp(logErfc(-x)));
  }
  if (x < 2.5) return Math.log(1 - erfSeries(x));
  return -x * x - Math.log(SQRT_PI) + Math.log(erfcContinuedFraction(x));
}

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / SQRT_PI) * Math.exp(-x2) * sum;
}

/** 1/(x + a₁/(x + a₂/(x + …))) with a_k = k/2. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 10_000; k++) {
    const a = k / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / f;
}
