// bench/hostile's bad-input probes through the real CLI (node
// harness/bin/dax-harness.js, as a user runs it): every one exits 2 with one
// line on stderr that names the input, and leaves its cache and results
// directories empty.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostileProbes, problems, runProbe } from '../../bench/hostile-probes.ts';

const scratch = mkdtempSync(join(tmpdir(), 'daxh-probes-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const probes = hostileProbes(scratch);

t.ok(probes.length >= 30, `${probes.length} probes`);
for (const p of probes) {
  t.test(p.name, async (t) => {
    const r = await runProbe(p, scratch);
    t.same(problems(r), [], `${p.args.join(' ').slice(0, 120)} → exit ${r.code}: ${r.lines.join(' | ').slice(0, 300)}`);
    // No wall-clock bound: a probe worked on instead of refused that never ends (9^9 alias
    // strings expanded) is killed by runProbe and fails above as an exit that is not 2. How long
    // each takes, against the 1 s goal past start-up, is bench:hostile's input section.
  });
}
