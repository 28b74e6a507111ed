// The settings of the workflows (bisect, nightly, repro, merge) that their
// input errors name. Errors say them with withSettings (host/errors.ts); the
// CLI spells each as the flag that gives it (cli/exit.ts SETTING_FLAGS).
import { setting } from '../host/errors.ts';

export const GOOD = setting('good');
export const BAD = setting('bad');
export const REVERSE = setting('reverse');
export const RESUME = setting('resume');
export const SECONDS = setting('seconds');
export const NIGHT = setting('night');
export const SHARD = setting('shard');
export const BASELINE = setting('baseline');
export const RESULTS = setting('results');
export const CRASH = setting('crash');
