/** The shape every benchmark module has, and what it hands back to bench/run.ts. */
import type { BenchEnv, ScriptRule } from './env.js';

export interface TargetCheck {
  /** e.g. "fleet adds ≤ 2 ms to TTFT at p50" */
  target: string;
  /** The measured figure, e.g. "+1.4 ms". */
  measured: string;
  met: boolean;
}

export interface BenchResult {
  /** Printed tables (Markdown). */
  tables: string[];
  /** Everything measured, for bench/results/latest.json. */
  data: unknown;
  targets: TargetCheck[];
  notes?: string[];
}

export interface Benchmark {
  name: string;
  title: string;
  /** Rules added to the shared emulator. */
  scripts: ScriptRule[];
  /** Concurrent runs the shared worker must accept. */
  workerConcurrency?: (quick: boolean) => number;
  run(env: BenchEnv): Promise<BenchResult>;
}
