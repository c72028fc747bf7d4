/** Kubernetes resource quantities (`500m`, `128Mi`, `1G`, `2e3`) as plain numbers. */
const suffixes: Record<string, number> = {
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

export function parseQuantity(text: string): number {
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(text.trim());
  const multiplier = match ? suffixes[match[2] ?? ''] : undefined;
  if (!match || multiplier === undefined)
    throw new Error(`${JSON.stringify(text)} is not a resource quantity`);
  return Number(match[1]) * multiplier;
}
