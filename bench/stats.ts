/** Percentiles and summaries for the benchmarks (nearest-rank percentiles, values in ms). */

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p % at or below it. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** Rounds for the JSON output (3 decimals: microseconds when values are ms). */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function roundSummary(s: Summary): Summary {
  return {
    n: s.n,
    mean: round(s.mean),
    p50: round(s.p50),
    p95: round(s.p95),
    p99: round(s.p99),
    max: round(s.max),
  };
}

/** Fisher-Yates, for interleaving modes in a random order each round. */
export function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `once(mode)` for every mode in a random order each round, `warmup` rounds unrecorded
 * then `rounds` recorded, with `gapMs` between runs: the machine's noise falls on all modes
 * alike. Returns each mode's samples.
 */
export async function interleaved<M extends string, S>(
  modes: readonly M[],
  { rounds, warmup, gapMs = 5 }: { rounds: number; warmup: number; gapMs?: number },
  once: (mode: M) => Promise<S>,
  onRound: (recorded: number) => void = () => undefined,
): Promise<Record<M, S[]>> {
  const samples = Object.fromEntries(modes.map((m) => [m, [] as S[]])) as Record<M, S[]>;
  for (let i = 0; i < warmup + rounds; i++) {
    for (const mode of shuffle([...modes])) {
      const sample = await once(mode);
      if (i >= warmup) samples[mode].push(sample);
      await sleep(gapMs);
    }
    if (i >= warmup) onRound(i + 1 - warmup);
  }
  return samples;
}
