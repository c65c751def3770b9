/**
 * Kubernetes resource quantities ("500m", "2", "1.5Gi", "1e3"), read exactly as apimachinery's
 * resource.ParseQuantity reads them (k8s.io/apimachinery/pkg/api/resource/quantity.go, v0.36):
 * the same strings are accepted, with the same value, so that the CRDs' isQuantity() and
 * quantity() rules give the same verdict here as in the API server. Values are exact decimals;
 * no float is involved.
 */

/** coefficient × 10^exponent, the coefficient without trailing zeros (zero is 0 × 10^0). */
export interface Quantity {
  readonly coefficient: bigint;
  readonly exponent: number;
}

/** ParseQuantity's three errors, with its messages. */
export class QuantityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

const FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC = 'unable to parse numeric part of quantity';
const SUFFIX = "unable to parse quantity's suffix";

type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const DECIMAL_SI: Record<string, number> = { '': 0, n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SI: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const SUFFIX_CHARS = 'eEinumkKMGTP';
const NANO = -9;
const MAX_INT64 = (1n << 63n) - 1n;
const ZERO: Quantity = { coefficient: 0n, exponent: 0 };

/** Go's int32 conversion and int32 arithmetic wrap around; so do scales in ParseQuantity. */
const int32 = (n: number | bigint): number => Number(BigInt.asIntN(32, BigInt(n)));
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

export function isQuantity(text: string): boolean {
  try {
    parseQuantity(text);
    return true;
  } catch (err) {
    if (err instanceof QuantityError) return false;
    throw err;
  }
}

/** The value of a quantity; throws a QuantityError where ParseQuantity returns an error. */
export function parseQuantity(str: string): Quantity {
  if (str.length === 0) throw new QuantityError(FORMAT_WRONG);
  if (str === '0') return ZERO;
  const { positive, value, num, denom, suffix } = scan(str);
  const { base, exponent, format } = interpret(suffix);

  let precision: number;
  let scale = 0;
  let mantissa = 1n;
  if (format === 'BinarySI') {
    if (exponent >= 0 && denom.length === 0) {
      mantissa = 1n << BigInt(exponent);
      // ParseQuantity's estimate of the decimal digits a binary suffix takes (exponent*3/10).
      precision = 15 - num.length - Math.trunc((exponent * 3) / 10) - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = exponent;
    precision = 18 - (num.length + denom.length);
  }

  // The fast path: an int64 times a power of ten, exact.
  if (precision >= 0) {
    scale = int32(scale - denom.length);
    if (scale >= NANO) {
      const result = BigInt(num + denom) * mantissa;
      if (result <= MAX_INT64) return normalise(positive ? result : -result, scale);
    }
  }

  // The general path: an arbitrary-precision decimal, rounded away from zero to 1n, binary capped.
  const digits = value.replace(/[^0-9]/g, '');
  if (digits.length === 0) throw new QuantityError(NUMERIC);
  let unscaled = BigInt(digits);
  let infScale = value.includes('.') ? value.length - value.indexOf('.') - 1 : 0;
  if (base === 10) infScale = int32(infScale + int32(-exponent));
  else unscaled *= 1n << BigInt(exponent);
  let magnitude = roundUpToNano(unscaled, infScale);
  if (format === 'BinarySI' && compareMagnitude(magnitude, { coefficient: MAX_INT64, exponent: 0 }) > 0) {
    magnitude = { coefficient: MAX_INT64, exponent: 0 };
  }
  return positive || magnitude.coefficient === 0n ? magnitude : { coefficient: -magnitude.coefficient, exponent: magnitude.exponent };
}

interface Scanned {
  positive: boolean;
  /** The number as written (sign, digits, point), without the suffix. */
  value: string;
  /** Digits before the point, leading zeros removed ("0" when none are left). */
  num: string;
  /** Digits after the point. */
  denom: string;
  suffix: string;
}

/** parseQuantityString, step for step: sign, leading zeros, digits, point and digits, suffix. */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (str[0] === '-') {
    positive = false;
    pos++;
  } else if (str[0] === '+') {
    pos++;
  }
  while (str[pos] === '0') pos++;
  if (pos >= end) return { positive, value: '0', num: '0', denom: '', suffix: '' };

  const numStart = pos;
  while (isDigit(str[pos])) pos++;
  let num = str.slice(numStart, pos);
  if (pos >= end) return { positive, value: str, num, denom: '', suffix: '' };
  if (num.length === 0) num = '0';

  let denom = '';
  if (str[pos] === '.') {
    const denomStart = ++pos;
    while (isDigit(str[pos])) pos++;
    denom = str.slice(denomStart, pos);
    if (pos >= end) return { positive, value: str, num, denom, suffix: '' };
  }
  const value = str.slice(0, pos);

  const suffixStart = pos;
  while (pos < end && SUFFIX_CHARS.includes(str[pos]!)) pos++;
  if (str[pos] === '-' || str[pos] === '+') pos++;
  while (isDigit(str[pos])) pos++;
  if (pos < end) throw new QuantityError(FORMAT_WRONG);
  return { positive, value, num, denom, suffix: str.slice(suffixStart) };
}

function interpret(suffix: string): { base: 2 | 10; exponent: number; format: Format } {
  if (Object.hasOwn(DECIMAL_SI, suffix)) return { base: 10, exponent: DECIMAL_SI[suffix]!, format: 'DecimalSI' };
  if (Object.hasOwn(BINARY_SI, suffix)) return { base: 2, exponent: BINARY_SI[suffix]!, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E')) {
    // strconv.ParseInt(s, 10, 64): an optional sign and decimal digits, within int64.
    const text = suffix.slice(1);
    if (!/^[+-]?[0-9]+$/.test(text)) throw new QuantityError(SUFFIX);
    const parsed = BigInt(text);
    if (parsed > MAX_INT64 || parsed < -MAX_INT64 - 1n) throw new QuantityError(SUFFIX);
    return { base: 10, exponent: int32(parsed), format: 'DecimalExponent' };
  }
  throw new QuantityError(SUFFIX);
}

/** unscaled × 10^-scale (unscaled ≥ 0), rounded up to a whole number of 10^-9 when finer. */
function roundUpToNano(unscaled: bigint, scale: number): Quantity {
  if (unscaled === 0n || scale <= -NANO) return normalise(unscaled, 0 - scale);
  const drop = scale + NANO;
  // Below 10^-9 altogether: one nano (no need to build 10^drop, which may be huge).
  if (drop >= unscaled.toString().length) return { coefficient: 1n, exponent: NANO };
  const unit = 10n ** BigInt(drop);
  const kept = unscaled / unit + (unscaled % unit === 0n ? 0n : 1n);
  return normalise(kept, NANO);
}

function normalise(coefficient: bigint, exponent: number): Quantity {
  if (coefficient === 0n) return ZERO;
  while (coefficient % 10n === 0n) {
    coefficient /= 10n;
    exponent++;
  }
  return { coefficient, exponent };
}

export function sign(q: Quantity): -1 | 0 | 1 {
  return q.coefficient > 0n ? 1 : q.coefficient < 0n ? -1 : 0;
}

/** -1, 0 or 1 as a is less than, equal to or greater than b (Quantity.Cmp). */
export function compare(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const [sa, sb] = [sign(a), sign(b)];
  if (sa !== sb) return sa < sb ? -1 : 1;
  const m = compareMagnitude(abs(a), abs(b));
  return (sa < 0 ? 0 - m : m) as -1 | 0 | 1;
}

const abs = (q: Quantity): Quantity => (q.coefficient < 0n ? { coefficient: -q.coefficient, exponent: q.exponent } : q);

/** Compares non-negative quantities by their order of magnitude first, so 1e999999999 costs nothing. */
function compareMagnitude(a: Quantity, b: Quantity): -1 | 0 | 1 {
  if (a.coefficient === 0n || b.coefficient === 0n) return a.coefficient === b.coefficient ? 0 : a.coefficient === 0n ? -1 : 1;
  const [da, db] = [a.coefficient.toString().length, b.coefficient.toString().length];
  const [oa, ob] = [da + a.exponent, db + b.exponent];
  if (oa !== ob) return oa < ob ? -1 : 1;
  // Same order: the exponents differ by at most the digits' count.
  const shift = a.exponent - b.exponent;
  const [x, y] = shift >= 0 ? [a.coefficient * 10n ** BigInt(shift), b.coefficient] : [a.coefficient, b.coefficient * 10n ** BigInt(-shift)];
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Exponent gaps wider than this are refused by add and sub rather than expanded. */
const MAX_ALIGNMENT = 100_000;

/** a + b, exactly (Quantity.Add). */
export function add(a: Quantity, b: Quantity): Quantity {
  if (a.coefficient === 0n) return b;
  if (b.coefficient === 0n) return a;
  const low = Math.min(a.exponent, b.exponent);
  if (Math.max(a.exponent, b.exponent) - low > MAX_ALIGNMENT) {
    throw new QuantityError('quantities too far apart in magnitude to add exactly here');
  }
  const scaled = (q: Quantity) => q.coefficient * 10n ** BigInt(q.exponent - low);
  return normalise(scaled(a) + scaled(b), low);
}

export function negate(q: Quantity): Quantity {
  return q.coefficient === 0n ? q : { coefficient: -q.coefficient, exponent: q.exponent };
}

/** A whole number as a quantity (resource.NewQuantity). */
export function fromInteger(n: bigint): Quantity {
  return normalise(n, 0);
}
