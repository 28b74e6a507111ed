// The DAX smoke as a suite: an fsdax namespace (its own test, setup.fsdax),
// then dax-smoke.FS on each filesystem. Its test ids are `dax-smoke.ext4` and
// `dax-smoke.xfs`; `smoke:FS` (what bisect and repro took before) and the bare
// suite name (both filesystems) are accepted too.
import { TestLog, StepFailed, blankResult, judge, type SuiteContext } from '../context.ts';
import { DAX_FILESYSTEMS, isDaxFs, setupFsdax, type DaxFs } from '../fsdax.ts';
import { SUITE_SETTINGS, SuiteInputError, commIs, type ReproMention, type Suite } from '../suite.ts';
import { withSettings } from '../../host/errors.ts';
import { defaultTopology } from '../../vm/topology.ts';
import type { TestResult } from '../../results/records.ts';
import { runSmokeOn } from './dax-smoke.ts';

const NAME = 'smoke';
const TEST = 'dax-smoke';
const idFor = (fs: DaxFs) => `${TEST}.${fs}`;
/** The smoke in a report's text: dax-smoke[.FS] as run prints it, or dax_smoke, its program. */
const MENTION = new RegExp(`(?<![\\w-])dax[-_]smoke(?:\\.(${DAX_FILESYSTEMS.join('|')}))?(?![\\w-])`, 'g');

/** The DAX smoke: PMD and PTE faults, MAP_SYNC, pattern checks through pread. */
export const SMOKE_PATHS: readonly string[] = ['dax_iomap_pmd_fault', 'dax_iomap_pte_fault', 'dax_fault_iter', 'dax_insert_entry', 'dax_associate_entry', 'vmf_insert_folio_pmd', 'dax_insert_pfn_pmd', 'dax_insert_pfn_mkwrite', 'dax_finish_sync_fault', 'dax_iomap_rw'];

/**
 * The filesystem a word names: the id (dax-smoke.xfs), `smoke.xfs` (repro's
 * old spelling), or after the `smoke:` prefix (taken off by the registry) the
 * bare filesystem, as a saved bisection's state holds it.
 */
function fsOf(word: string): DaxFs | null {
  const m = new RegExp(`^(?:${TEST}|${NAME})\\.(.+)$`).exec(word);
  const fs = m ? m[1]! : word;
  return isDaxFs(fs) ? fs : null;
}

/** The filesystems that run these ids. */
function planTests(ids: readonly string[]): { filesystems: DaxFs[] } {
  return { filesystems: ids.map(fsOf).filter((f): f is DaxFs => f !== null) };
}

export const smoke = {
  name: NAME,
  listing: async () => `${DAX_FILESYSTEMS.map(idFor).join(', ')} (or ${NAME}:FS, ${NAME} for both)`,
  testIds: async () => DAX_FILESYSTEMS.map(idFor),
  owns: async (w) => w.startsWith(`${TEST}.`) || w.startsWith(`${NAME}.`),
  async select(words) {
    const out: string[] = [];
    for (const w of words) {
      const fss = w === '' ? [...DAX_FILESYSTEMS] : [fsOf(w)];
      if (fss.includes(null)) throw new SuiteInputError(withSettings`${SUITE_SETTINGS.test} ${w}: the smoke runs on ${DAX_FILESYSTEMS.join(' or ')}: give ${DAX_FILESYSTEMS.map(idFor).join(' or ')}`);
      for (const fs of fss as DaxFs[]) if (!out.includes(idFor(fs))) out.push(idFor(fs));
    }
    return out;
  },
  planTests,
  idOf: (r) => (r.params.fs ? `${r.name}.${r.params.fs}` : r.name),
  modes: async () => DAX_FILESYSTEMS,
  async nightly(entry, defaultModes, bad) {
    if (entry.tests) bad('tests', `the smoke has no test list: choose filesystems with modes: [${DAX_FILESYSTEMS.join(', ')}]`);
    const modes = entry.modes ?? [...defaultModes];
    modes.forEach((m, j) => isDaxFs(m) || bad(`modes[${j}]`, `"${m}" is not a smoke filesystem: use ${DAX_FILESYSTEMS.join(' or ')}`));
    return modes;
  },
  cellTests: async (mode) => [idFor(mode as DaxFs)],
  tree: null,
  takesSeconds: false,
  repro: async () => ({
    tests: DAX_FILESYSTEMS.map((fs) => ({ id: idFor(fs), family: TEST, target: { fs, mode: 'fsdax' as const, reflink: false }, paths: SMOKE_PATHS })),
    mentions(text, comm) {
      const out: ReproMention[] = [];
      // dax-smoke.xfs as run prints it, dax_smoke as the program is called.
      for (const m of text.matchAll(MENTION)) out.push({ name: m[1] ? idFor(m[1] as DaxFs) : TEST, how: 'text', target: null });
      if (comm && commIs('dax_smoke', comm)) out.push({ name: TEST, how: 'comm', target: null });
      return out;
    },
    base: { score: 4, why: 'the DAX smoke: PMD, PTE and MAP_SYNC faults with pattern checks, quick' },
  }),

  needs: () => ({ image: 'initramfs', topology: defaultTopology, cmdline: [], modules: [], kernelFragments: null }),
  async check(i) {
    // Its ids by --test, or filesystems by --fs.
    for (const t of i.tests ?? []) if (!fsOf(t)) throw new SuiteInputError(withSettings`${SUITE_SETTINGS.test} ${t} is not a test of the smoke: give ${DAX_FILESYSTEMS.map(idFor).join(' or ')} (or ${SUITE_SETTINGS.fs}), or the ${SUITE_SETTINGS.suite} whose test it is`);
    for (const f of i.filesystems ?? []) if (!isDaxFs(f)) throw new SuiteInputError(withSettings`${SUITE_SETTINGS.fs} "${f}" is not ${DAX_FILESYSTEMS.join(' or ')}`);
  },
  prepareHost: async () => null,
  async prepare(i, _host, kernel) {
    const chosen = [...(i.filesystems ?? []), ...planTests(i.tests ?? []).filesystems];
    return { kernel, run: (ctx, onResult) => runSmoke(ctx, chosen.length ? [...new Set(chosen)] : [...DAX_FILESYSTEMS], onResult) };
  },
} satisfies Suite;

async function runSmoke(ctx: SuiteContext, filesystems: DaxFs[], onResult: (r: TestResult) => Promise<void>): Promise<void> {
  // The namespace setup is a test of its own: a kernel report while it runs
  // belongs to it, not to the first filesystem test after it.
  const setupLog = new TestLog(ctx, 'setup.fsdax');
  await setupLog.ready;
  const setup = blankResult('setup.fsdax', { mode: 'fsdax' }, setupLog.rel);
  const t0 = Date.now();
  let dev: string | null = null;
  try {
    dev = await setupFsdax(ctx, setupLog);
  } catch (e) {
    setup.status = e instanceof StepFailed ? e.status : 'infra-error';
    setup.reason = e instanceof Error ? e.message : String(e);
    if (!(e instanceof StepFailed)) await ctx.settle();
  }
  judge(setup, ctx.takeCrashes());
  setup.durationMs = Date.now() - t0;
  await setupLog.close();
  await onResult(setup);
  if (!dev || setup.status === 'infra-error') return;
  for (const fs of filesystems) {
    if (ctx.signal.aborted) break;
    const r = await runSmokeOn(ctx, fs, dev);
    await onResult(r);
    if (r.status === 'infra-error') break;
  }
}
