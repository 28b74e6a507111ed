// A toy suite that exists only for tests: the whole of what a new suite
// writes to be selectable by run's --test, nightly configs and bisect. Two
// tests per mode (`echo.MODE`, `sleep.MODE`); nothing boots here.
import { SuiteInputError, type Suite } from '../../harness/src/suites/suite.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';

const NAME = 'toy';
const MODES = ['left', 'right'];
const TESTS = ['echo', 'sleep'];
const IDS = TESTS.flatMap((t) => MODES.map((m) => `${t}.${m}`));

export const toy = {
  name: NAME,
  listing: async () => IDS.join(', '),
  testIds: async () => [...IDS],
  owns: async (w) => IDS.includes(w),
  async select(words) {
    if (words.includes('')) return [...IDS];
    for (const w of words) if (!IDS.includes(w)) throw new SuiteInputError(`--test ${w} is not a toy test: give ${IDS.join(', ')}`);
    return [...words];
  },
  planTests: (ids: readonly string[]) => ({ tests: [...ids] }),
  idOf: (r) => `${r.name}.${r.params.mode}`,
  modes: async () => MODES,
  async nightly(entry, _defaultModes, bad) {
    const modes = entry.modes ?? MODES;
    modes.forEach((m, j) => MODES.includes(m) || bad(`modes[${j}]`, `"${m}" is not a toy mode: use ${MODES.join(' or ')}`));
    return modes;
  },
  cellTests: async (mode, tests) => (tests ?? TESTS).map((t) => `${t}.${mode}`),
  tree: null,
  takesSeconds: false,
  repro: async () => ({
    tests: IDS.map((id) => ({ id, family: id.split('.')[0]!, target: { fs: null, mode: 'both' as const, reflink: false }, paths: ['toy_fault'] })),
    mentions: () => [],
    base: null,
  }),
  needs: () => ({ image: 'initramfs', topology: defaultTopology, cmdline: [], modules: [], kernelFragments: null }),
  async check(i) {
    for (const w of i.tests ?? []) if (!IDS.includes(w)) throw new SuiteInputError(`--test ${w} is not a toy test`);
  },
  prepareHost: async () => null,
  prepare: async (_i, _host, kernel) => ({ kernel, run: async () => {} }),
} satisfies Suite;
