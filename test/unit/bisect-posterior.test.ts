// The posterior over culprits (posterior.ts) on states small enough to work
// out by hand with the Beta integral B(H + 1, P + 1) = H! P! / (H + P + 1)!.
import t from 'tap';
import { newBisection } from '../../harness/src/workflows/bisect/engine.ts';
import { culpritPosterior } from '../../harness/src/workflows/bisect/posterior.ts';
import type { BisectState } from '../../harness/src/workflows/bisect/types.ts';

const KEY = 'BUG: dax_insert_pfn_pmd';

function put(state: BisectState, step: string, hash: string, crashes: number, passes: number): void {
  state.builds[step] = { ok: true, imageHash: hash, reason: 'built' };
  state.evidence[hash] ??= { runs: crashes + passes, passes, crashes: crashes ? { [KEY]: { title: 'kernel BUG', count: crashes } } : {}, failures: {}, bootFailures: {}, infra: 0, infraStreak: 0, boots: 1, batches: 1 };
}

t.test('two patches: the clean parent makes patch 2 504 times in 524 likely', async (t) => {
  const state = newBisection({ direction: 'cause', steps: 2 });
  put(state, 'p2', 'h2', 3, 1);
  put(state, 'p1', 'h1', 0, 4);
  // c = 2: only p2 carries the bug, H = 3, P = 1: 3! 1! / 5! = 1/20.
  // c = 1: both carry it,          H = 3, P = 5: 3! 5! / 9! = 1/504.
  const p = culpritPosterior(state);
  t.equal(p[0], 0);
  t.ok(Math.abs(p[2]! - 504 / 524) < 1e-12, `${p[2]}`);
  t.ok(Math.abs(p[1]! - 20 / 524) < 1e-12, `${p[1]}`);
});

t.test('a matching crash rules out every patch after the kernel it was seen on', async (t) => {
  const state = newBisection({ direction: 'cause', steps: 3 });
  put(state, 'p3', 'h3', 4, 2);
  put(state, 'p1', 'h1', 1, 30);
  t.same(culpritPosterior(state), [0, 1, 0, 0]);
});

t.test('a patch that builds the same kernel as its parent cannot be the one', async (t) => {
  const state = newBisection({ direction: 'cause', steps: 2 });
  put(state, 'p2', 'h', 2, 2);
  put(state, 'p1', 'h', 2, 2);
  t.same(culpritPosterior(state), [0, 1, 0]);
});

t.test('a fix bisection: the kernels without the fix carry the bug', async (t) => {
  const state = newBisection({ direction: 'fix', steps: 2 });
  put(state, 'p0', 'h0', 3, 1);
  put(state, 'p1', 'h1', 0, 4);
  // Patch 1 fixing it: only p0 carries the bug (P = 1); patch 2: p0 and p1 do (P = 5).
  const p = culpritPosterior(state);
  t.ok(Math.abs(p[1]! - 504 / 524) < 1e-12);
});

t.test('evidence no single patch explains gives no probability to any', async (t) => {
  const state = newBisection({ direction: 'cause', steps: 2 });
  put(state, 'p2', 'h2', 3, 1);
  put(state, 'p0', 'h0', 2, 3);
  t.same(culpritPosterior(state), [0, 0, 0]);
});
