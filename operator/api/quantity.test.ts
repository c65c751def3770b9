/**
 * The quantity reader against apimachinery's own table (resource/quantity_test.go, TestQuantityParse):
 * each input with the value ParseQuantity gives it, the inputs it refuses, and the corners of its
 * scanner that the table leaves out, read off the Go code.
 */
import { add, compare, fromInteger, isQuantity, negate, parseQuantity, QuantityError, sign, type Quantity } from './quantity.js';

/** v × 10^e, as the Go table writes decQuantity(v, e, format). */
const q = (coefficient: bigint | number, exponent = 0): Quantity => normal(BigInt(coefficient), exponent);

function normal(c: bigint, e: number): Quantity {
  if (c === 0n) return { coefficient: 0n, exponent: 0 };
  while (c % 10n === 0n) [c, e] = [c / 10n, e + 1];
  return { coefficient: c, exponent: e };
}

const KI = 1024n;
const MAX_INT64 = (1n << 63n) - 1n;

const valid: [string, Quantity][] = [
  ['0', q(0)], ['0n', q(0)], ['0u', q(0)], ['0m', q(0)], ['0Ki', q(0)], ['0k', q(0)], ['0Mi', q(0)], ['0M', q(0)],
  ['0Gi', q(0)], ['0G', q(0)], ['0Ti', q(0)], ['0T', q(0)],
  ['1', q(1)],
  ['1Ki', q(KI)], ['8Ki', q(8n * KI)], ['7Mi', q(7n * KI ** 2n)], ['6Gi', q(6n * KI ** 3n)], ['5Ti', q(5n * KI ** 4n)],
  ['4Pi', q(4n * KI ** 5n)], ['3Ei', q(3n * KI ** 6n)], ['10Ti', q(10n * KI ** 4n)], ['100Ti', q(100n * KI ** 4n)],
  ['5n', q(5, -9)], ['4u', q(4, -6)], ['3m', q(3, -3)], ['9', q(9)], ['8k', q(8, 3)], ['50k', q(5, 4)], ['7M', q(7, 6)],
  ['6G', q(6, 9)], ['5T', q(5, 12)], ['40T', q(4, 13)], ['300T', q(3, 14)], ['2P', q(2, 15)], ['1E', q(1, 18)],
  ['1E-3', q(1, -3)], ['1e3', q(1, 3)], ['1E6', q(1, 6)], ['1e9', q(1, 9)], ['1E12', q(1, 12)], ['1e15', q(1, 15)], ['1E18', q(1, 18)],
  ['1e14', q(1, 14)], ['1e13', q(1, 13)], ['100.035k', q(100035)],
  ['0.001', q(1, -3)], ['0.0005k', q(5, -1)], ['0.005', q(5, -3)], ['0.05', q(5, -2)], ['0.5', q(5, -1)], ['0.00050k', q(5, -1)],
  ['0.00500', q(5, -3)], ['0.05000', q(5, -2)], ['0.50000', q(5, -1)], ['0.5e0', q(5, -1)], ['0.5e-1', q(5, -2)], ['0.5e-2', q(5, -3)],
  ['10.035M', q(10035, 3)],
  ['1.2e3', q(12, 2)], ['1.3E+6', q(13, 5)], ['1.40e9', q(14, 8)], ['1.53E12', q(153, 10)], ['1.6e15', q(16, 14)], ['1.7E18', q(17, 17)],
  ['9.01', q(901, -2)], ['8.1k', q(81, 2)], ['7.123456M', q(7123456)], ['6.987654321G', q(6987654321)], ['5.444T', q(5444, 9)],
  ['40.1T', q(401, 11)], ['300.2T', q(3002, 11)], ['2.5P', q(25, 14)], ['1.01E', q(101, 16)],
  // Rounded away from zero to a whole nano, binary capped at 2^63-1.
  ['3.001n', q(4, -9)], ['1.1E-9', q(2, -9)], ['0.0000000001', q(1, -9)], ['0.0000000005', q(1, -9)], ['0.00000000050', q(1, -9)],
  ['0.5e-9', q(1, -9)], ['0.9n', q(1, -9)], ['0.00000012345', q(124, -9)], ['0.00000012354', q(124, -9)],
  ['9Ei', q(MAX_INT64)], ['9223372036854775807Ki', q(MAX_INT64)], ['12E', q(12, 18)],
  ['100.035Ki', q(10243584, -2)], ['0.5Mi', q(512n * KI)], ['0.05Gi', q(536870912, -1)], ['0.025Ti', q(274877906944, -1)],
  ['0.000000000001Ki', q(2, -9)], ['.001', q(1, -3)], ['.0001k', q(100, -3)], ['1.', q(1)], ['1.G', q(1, 9)],
];

// Accepted by ParseQuantity's scanner though they look wrong (read off quantity.go): a bare sign or
// point is zero, a suffix alone is zero, exponents are int64 cut to int32.
const corners: [string, Quantity][] = [
  ['+', q(0)], ['-', q(0)], ['.', q(0)], ['Mi', q(0)], ['+Ki', q(0)], ['.e-5', q(0)], ['000', q(0)], ['-0.0', q(0)],
  ['1e999999999', q(1, 999999999)], ['1e-999999999', q(1, -9)], ['1e4294967296', q(1)], ['1e+3', q(1, 3)], ['0001.5', q(15, -1)],
  ['12345678901234567890', q(12345678901234567890n)], ['123456789012345678.9', q(1234567890123456789n, -1)],
];

const invalid = [
  '1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', ' 1', '1 ', '',
  // The values the issue names, and more from the scanner.
  'lots', 'many', '200K', '1e', '1ee3', '1Ki3', '1e3.5', '1e9223372036854775808', '.e-20', '+.e-20', '1_000', '１', '0x10', '1,5G',
];

describe('parseQuantity reads what ParseQuantity reads', () => {
  test.each([...valid, ...corners])('%s', (text, expected) => {
    expect(parseQuantity(text)).toEqual(expected);
    expect(isQuantity(text)).toBe(true);
  });

  test.each(valid.filter(([text]) => !text.startsWith('-') && !text.startsWith('+')))('%s with a sign', (text, expected) => {
    expect(parseQuantity(`-${text}`)).toEqual(negate(expected));
    expect(parseQuantity(`+${text}`)).toEqual(expected);
  });

  test.each(invalid)('refuses %j', (text) => {
    expect(() => parseQuantity(text)).toThrow(QuantityError);
    expect(isQuantity(text)).toBe(false);
  });

  test('says why, in ParseQuantity words', () => {
    expect(() => parseQuantity('200K')).toThrow("unable to parse quantity's suffix");
    expect(() => parseQuantity('lots')).toThrow('quantities must match the regular expression');
    expect(() => parseQuantity('1 ')).toThrow('quantities must match the regular expression');
    expect(() => parseQuantity('.e-20')).toThrow('unable to parse numeric part of quantity');
  });
});

describe('quantity arithmetic', () => {
  const p = parseQuantity;

  test.each([
    ['200M', '0.2G', 0], ['50M', '50Mi', -1], ['50Mi', '50M', 1], ['150Mi', '100Mi', 1], ['1', '1000m', 0], ['-1', '0', -1],
    ['-2', '-1', -1], ['1e999999999', '1e999999998', 1], ['1e-999999999', '1n', 0], ['0', '-0', 0], ['1Ei', '1E', 1],
  ])('compares %s with %s: %i', (a, b, expected) => {
    expect(compare(p(a), p(b))).toBe(expected);
    expect(compare(p(b), p(a))).toBe(0 - expected);
  });

  test('signs', () => {
    expect([sign(p('-1m')), sign(p('0')), sign(p('2Ki'))]).toEqual([-1, 0, 1]);
  });

  test('adds exactly', () => {
    expect(add(p('50k'), p('20k'))).toEqual(p('70k'));
    expect(add(p('50k'), fromInteger(20n))).toEqual(p('50020'));
    expect(add(p('50k'), negate(p('20k')))).toEqual(p('30k'));
    expect(add(p('0.1'), p('0.2'))).toEqual(p('300m'));
    expect(add(p('1Ki'), negate(p('1024')))).toEqual(p('0'));
    expect(() => add(p('1e999999999'), p('1'))).toThrow(QuantityError);
  });
});
