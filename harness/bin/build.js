#!/usr/bin/env node
// npm's `prepare` step (so `npm ci` runs it): compile harness/src into
// harness/dist for a fast-starting CLI. Type errors do not stop the build
// (tsconfig.build.json sets noCheck; `npm run typecheck` is the type gate).
// Without TypeScript (an install that omits dev dependencies) the CLI simply
// keeps running the sources through tsx.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'harness', 'dist');
const stamp = join(dist, '.built');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('dax-harness build: TypeScript is not installed; the CLI will run its sources through tsx');
  process.exit(0);
}
// Dated before compiling starts, so a source saved during the build counts as newer.
const started = new Date();
// A stale stamp must not vouch for a half-written tree.
rmSync(stamp, { force: true });
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  // Not fatal for `npm ci`: the sources still run through tsx, and the tests say what is wrong.
  console.error(`dax-harness build: tsc failed (exit ${r.status ?? r.signal}); the CLI will run its sources through tsx`);
  process.exit(0);
}
mkdirSync(dist, { recursive: true });
writeFileSync(stamp, '');
utimesSync(stamp, started, started);
