// npm run docs:env: write docs/environment.md from the registry in
// harness/src/host/env.ts (test/unit/host-env.test.ts fails while it is stale).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { environmentDoc } from '../harness/src/host/env.ts';
import { repoRoot } from '../harness/src/host/paths.ts';

const out = join(repoRoot, 'docs', 'environment.md');
writeFileSync(out, environmentDoc());
console.log(`wrote ${out}`);
