// The settings of a kernel choice that the kernel pipeline's errors name.
// Errors say them as references (host/errors.ts withSettings); the CLI spells
// each as its flag (--source, --ref ...), a nightly cell as its config key.
import { setting } from '../host/errors.ts';

export const SOURCE = setting('source');
export const REF = setting('ref');
export const SERIES = setting('series');
export const KERNEL = setting('kernel');
export const MODULES = setting('modules');
export const KERNEL_PACKAGE = setting('kernelPackage');
export const ALLOW_DROPPED = setting('allowDropped');
