#!/usr/bin/env node
// Runs the compiled JavaScript in harness/dist/ when it is there and at least
// as new as every source: tsx transpiles each module at start-up, which costs
// seconds on a cold cache and makes `parse-log` in a pipe feel slow. A dist/
// older than a source (after a pull or an edit) would run stale code, so then
// the sources run through tsx instead.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const harness = join(dirname(fileURLToPath(import.meta.url)), '..');

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) newest = Math.max(newest, newestSource(join(dir, e.name)));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, e.name)).mtimeMs);
  }
  return newest;
}

function distIsFresh() {
  try {
    // build.js dates the stamp to when compiling started.
    return statSync(join(harness, 'dist', '.built')).mtimeMs >= newestSource(join(harness, 'src'));
  } catch {
    return false;
  }
}

let main;
if (distIsFresh()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
