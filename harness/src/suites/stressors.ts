// Placeholder so the run workflow compiles while the stressor suite is being
// written (another engineer owns this file and replaces it whole).
import type { SuiteContext } from './context.ts';
import type { TestResult } from '../results/records.ts';

export interface StressorSuiteOptions {
  tests?: string[];
  onResult: (r: TestResult) => Promise<void>;
}

export async function runStressorSuite(_ctx: SuiteContext, _o: StressorSuiteOptions): Promise<void> {
  throw new Error('the stressor suite is not written yet');
}
