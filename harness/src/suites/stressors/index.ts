// The stressors as a suite: the manifest's matrix (suites/stressors/manifest.json)
// of C stressors × targets. Test ids are `stressor.target` as run prints them;
// a bare stressor name stands for all its targets.
import { checkStressorTestNames, expandMatrix, knownNames, loadManifest, type Manifest, type ManifestTarget } from './stressor-manifest.ts';
import { stressorPaths } from './paths.ts';
import { SUITE_SETTINGS, SuiteInputError, commIs, wordIn, type ReproMention, type Suite, type TestTarget } from '../suite.ts';
import { textOf, withSettings } from '../../host/errors.ts';
import { defaultTopology } from '../../vm/topology.ts';

const NAME = 'stressors';

let cached: Promise<Manifest> | null = null;
/** The harness's own manifest, read once per process. */
const manifest = () =>
  (cached ??= loadManifest().catch((e: unknown) => {
    cached = null;
    throw e;
  }));

/** Every case of the manifest, default or not, as `stressor.target`. */
function allIds(m: Manifest): string[] {
  return expandMatrix(m, { tests: m.tests.map((t) => t.name), release: '0.0', cpuFlags: new Set() }).map((c) => c.id);
}

/** Stressors of a nightly mode (a target): the listed ones, or the manifest's defaults. */
function forTarget(m: Manifest, target: string, listed: readonly string[] | undefined): string[] {
  return m.tests.filter((t) => t.targets.includes(target) && (listed ? listed.includes(t.name) : t.default !== false)).map((t) => t.name);
}

export const stressors = {
  name: NAME,
  async listing() {
    const m = await manifest();
    return `${m.tests.map((t) => t.name).join(', ')} (each alone, or as NAME.TARGET with TARGET one of ${Object.keys(m.targets).join(', ')})`;
  },
  testIds: async () => allIds(await manifest()),
  owns: async (w) => knownNames(await manifest()).includes(w),
  async select(words) {
    if (words.includes('')) return (await manifest()).tests.filter((t) => t.default !== false).map((t) => t.name);
    try {
      await checkStressorTestNames(words);
    } catch (e) {
      throw new SuiteInputError(withSettings`${SUITE_SETTINGS.test}: ${textOf(e)}`);
    }
    return [...words];
  },
  planTests: (ids: readonly string[]) => ({ tests: [...ids] }),
  idOf: (r) => (r.params.target ? `${r.name}.${r.params.target}` : r.name),
  modes: async () => Object.keys((await manifest()).targets),
  async nightly(entry, defaultModes, bad) {
    const m = await manifest();
    const targets = Object.keys(m.targets);
    const names = new Set(m.tests.map((t) => t.name));
    const modes = entry.modes ?? [...defaultModes];
    modes.forEach((x, j) => targets.includes(x) || bad(`modes[${j}]`, `"${x}" is not a stressor target: use ${targets.join(', ')}`));
    entry.tests?.forEach((t, j) => names.has(t) || bad(`tests[${j}]`, `"${t}" is not a stressor: use names from suites/stressors/manifest.json`));
    modes.forEach((x, j) => forTarget(m, x, entry.tests).length || bad(`modes[${j}]`, `no listed stressor runs on target "${x}": drop the mode or add a stressor that has it`));
    return modes;
  },
  cellTests: async (mode, tests) => forTarget(await manifest(), mode, tests).map((n) => `${n}.${mode}`),
  tree: null,
  takesSeconds: true,
  async repro() {
    const m = await manifest();
    const targetOf = (t: ManifestTarget): TestTarget => ({ fs: t.fs ?? null, mode: t.mode, reflink: t.reflink === '1' });
    const cases = expandMatrix(m, { tests: m.tests.map((t) => t.name), release: '0.0', cpuFlags: new Set() });
    const names = knownNames(m);
    const programs: Record<string, string[]> = {};
    for (const t of m.tests) (programs[t.binary ?? t.name] ??= []).push(t.name);
    const mentioned = (name: string): TestTarget | null => {
      const k = name.split('.')[1];
      return k && m.targets[k] ? targetOf(m.targets[k]) : null;
    };
    return {
      tests: cases.map((c) => ({ id: c.id, family: c.test.name, target: targetOf(c.target), paths: stressorPaths(c.test.name, c.test.binary ?? c.test.name) })),
      mentions(text: string, comm: string | null) {
        const out: ReproMention[] = [];
        // Longest names first, so "pipe_pin_unmapped" is not also read as "pipe_pin".
        let rest = text;
        for (const n of [...names].sort((a, b) => b.length - a.length)) {
          const re = wordIn(n);
          if (re.test(rest)) {
            out.push({ name: n, how: 'text', target: mentioned(n) });
            rest = rest.replace(new RegExp(re.source, 'g'), ' ');
          }
        }
        if (comm) for (const [p, ns] of Object.entries(programs)) if (commIs(p, comm)) for (const n of ns) out.push({ name: n, how: 'comm', target: null });
        return out;
      },
      base: null,
    };
  },


  needs: () => ({ image: 'initramfs', topology: defaultTopology, cmdline: [], modules: [], kernelFragments: null }),
  async check(i) {
    await checkStressorTestNames(i.tests);
  },
  prepareHost: async () => null,
  async prepare(i, _host, kernel) {
    const { runStressorSuite } = await import('./stressors.ts');
    return { kernel, run: (ctx, onResult) => runStressorSuite(ctx, { tests: i.tests, onResult }) };
  },
} satisfies Suite;
