/** One measured number from a benchmark (collected by bench/run.ts). */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The comparison measured in the same run. */
  baseline?: { name: string; value: number };
  /** value / baseline.value. */
  ratio?: number;
  /** What the issue asks for, in words (e.g. "<= 0.25"). */
  target?: string;
  /** Whether the target is met, when the benchmark judges it itself (else bench/run.ts reads `target`). */
  met?: boolean;
  notes?: string;
}
