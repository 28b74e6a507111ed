// ndctl's dax suite (meson, from the user's ndctl tree) as a suite. Its test
// ids are meson's names (dax-ext4.sh, device-dax, ...) as run prints them; the
// tree decides which exist, so --test words are checked against it once it
// is built, and the ids known here are those repro knows the paths of.
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NDCTL_GUEST, NdctlInputError, prepareNdctl, runNdctlSuite, type NdctlBuild } from './ndctl.ts';
import { NDCTL_PATHS, NDCTL_PROGRAMS, NDCTL_TARGET, NDCTL_TESTS } from './paths.ts';
import { SUITE_SETTINGS, commIs, wordIn, type ReproMention, type Suite, type TestTarget } from '../suite.ts';
import { withSettings } from '../../host/errors.ts';
import { withNfitTest } from '../../kernel/index.ts';

const NAME = 'ndctl';

function targetOf(name: string): TestTarget {
  const t = NDCTL_TARGET[name];
  return { fs: t?.fs ?? null, mode: t?.mode ?? 'both', reflink: false };
}

export const ndctl = {
  name: NAME,
  listing: async () => `${NDCTL_TESTS.join(', ')} (${NAME}:NAME for any test of your tree's dax suite)`,
  testIds: async () => [...NDCTL_TESTS],
  owns: async (w) => NDCTL_TESTS.includes(w),
  // The tree's own list is checked in prepareHost, after it is built.
  select: async (words) => (words.includes('') ? [] : [...words]),
  planTests: (ids: readonly string[]) => ({ tests: [...ids] }),
  idOf: (r) => r.name,
  modes: async () => null,
  async nightly(entry, _defaultModes, bad) {
    if (entry.modes !== undefined) bad('modes', `the ${NAME} suite has no modes: remove the key`);
    return ['all'];
  },
  cellTests: async (_mode, tests) => (tests ? [...tests] : undefined),
  tree: {
    option: NAME,
    what: `the top of your ${NAME} git tree`,
    async check(path) {
      const ok = await access(join(resolve(path), 'meson.build')).then(() => true, () => false);
      if (!ok) throw new NdctlInputError(`--${NAME} ${path} has no meson.build: give the top of an ${NAME} git tree`);
    },
  },
  takesSeconds: false,
  repro: async () => ({
    tests: NDCTL_TESTS.map((n) => ({ id: n, family: null, target: targetOf(n), paths: NDCTL_PATHS[n] ?? [] })),
    mentions(text, comm) {
      const out: ReproMention[] = [];
      const add = (name: string, how: ReproMention['how']) => out.push({ name, how, target: targetOf(name), label: `${NAME}'s ${name}` });
      // Longest names first, so a name inside a longer one is not read twice.
      for (const n of [...NDCTL_TESTS].sort((a, b) => b.length - a.length)) if (wordIn(n).test(text)) add(n, 'text');
      // Older ndctl ran both filesystems from one dax.sh.
      if (wordIn('dax.sh').test(text)) for (const n of NDCTL_PROGRAMS['dax.sh']!) add(n, 'text');
      if (comm) for (const [p, names] of Object.entries(NDCTL_PROGRAMS)) if (commIs(p, comm)) for (const n of names) add(n, 'comm');
      return out;
    },
    base: null,
  }),

  needs: () => ({
    image: 'rootfs',
    topology: NDCTL_GUEST.topology,
    cmdline: NDCTL_GUEST.cmdline,
    modules: NDCTL_GUEST.modules,
    kernelFragments: [...NDCTL_GUEST.kernelFragments],
  }),
  async check(i) {
    if (!i.ndctl) throw new NdctlInputError(withSettings`${SUITE_SETTINGS.suite} ${NAME} needs ${SUITE_SETTINGS.tree(NAME)} PATH: the top of your ${NAME} git tree`);
  },
  // The tree is built before anything boots (and before the kernel is
  // fetched): a broken tree is the user's input error, found early.
  async prepareHost(i, log) {
    const nb = await prepareNdctl(i.ndctl!, log);
    const names = nb.tests.map((t) => t.name);
    for (const w of i.tests ?? []) if (!names.includes(w)) throw new NdctlInputError(withSettings`${SUITE_SETTINGS.test} ${w} is not in ${NAME}'s dax suite: choose from ${names.join(', ')}`);
    return nb;
  },
  async prepare(i, host, kernel, log) {
    const nb = host as NdctlBuild;
    // nfit_test's wrapped drivers in place of the stock ones (a pipeline-built kernel carries them already).
    const k = await withNfitTest(kernel, log);
    return { kernel: k, shares: nb.shares, run: (ctx, onResult) => runNdctlSuite(ctx, nb, { tests: i.tests, onResult, hangMs: i.hangMs }) };
  },
} satisfies Suite;
