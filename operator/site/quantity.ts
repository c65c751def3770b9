/**
 * Kubernetes resource quantities ("500m", "2", "1.5Gi", "1e3"), read as plain numbers: enough to
 * compare a job's request with a site's ceiling.
 */
const SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The value of a quantity; throws on anything the API server would not accept as one. */
export function parseQuantity(text: string): number {
  const match = QUANTITY.exec(String(text).trim());
  if (!match) throw new Error(`${JSON.stringify(text)} is not a Kubernetes quantity (like 500m, 2, 4Gi)`);
  const [, number, exponent, suffix] = match;
  return Number(number + (exponent ?? '')) * SUFFIXES[suffix ?? '']!;
}
