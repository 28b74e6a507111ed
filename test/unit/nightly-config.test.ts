// The nightly config: validation with one-line errors, matrix expansion,
// cell keys, shards and kernel de-duplication. No guest.
import t from 'tap';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNightConfig, parseNightConfig, expandMatrix, shardCells, parseShard, uniqueKernels, NightConfigError } from '../../harness/src/workflows/nightly/config.ts';
import { messageOf } from '../../harness/src/cli/exit.ts';

const dir = await mkdtemp(join(tmpdir(), 'nightly-config-'));
await mkdir(join(dir, 'linux'));
await writeFile(join(dir, 'fix.mbox'), 'From x\n');
const parse = (raw: unknown) => parseNightConfig(raw, join(dir, 'n.yaml'), 'h', 'n.yaml');

t.test('a matrix: kernels × suites × modes × topologies, kernel-major, with stable keys', async (t) => {
  const c = await parse({
    kernels: [{ name: 'stock', stock: true }, { name: 'tree', git: 'linux', ref: 'v6.12', series: 'fix.mbox', config: 'dax,lockdep' }],
    suites: [{ name: 'smoke', modes: ['ext4', 'xfs'] }, { name: 'stress', suite: 'stressors', tests: ['vma_ops'], modes: ['ext4', 'devdax-2m'], seconds: 5 }],
    topologies: [{ name: 'default' }, { name: 'two', nvdimms: 2, mem: '3G', cpus: 1 }],
    overrides: [{ match: { suite: 'smoke', mode: 'xfs' }, repeat: 3 }],
    exclude: [{ kernel: 'tree', topology: 'two' }],
  });
  const cells = await expandMatrix(c);
  t.equal(cells.length, 8 + 4);
  t.same(cells.slice(0, 3).map((x) => x.key), ['stock.smoke.ext4.default', 'stock.smoke.ext4.two', 'stock.smoke.xfs.default']);
  t.notOk(cells.some((x) => x.axes.kernel === 'tree' && x.axes.topology === 'two'), 'exclude removes cells');
  const xfs = cells.find((x) => x.key === 'stock.smoke.xfs.two')!;
  t.equal(xfs.repeat, 3, 'override sets the repeat');
  t.same(xfs.fs, ['xfs']);
  t.equal(xfs.topology!.nvdimms.length, 2);
  t.equal(xfs.topology!.memMiB, 3072);
  t.ok(xfs.cpusFixed);
  const stress = cells.find((x) => x.key === 'stock.stress.devdax-2m.default')!;
  t.same(stress.tests, ['vma_ops.devdax-2m'], 'stressors run name.target for the cell\'s mode');
  t.equal(stress.seconds, 5);
  const tree = cells.find((x) => x.axes.kernel === 'tree')!;
  t.same(tree.kernel, { kind: 'git', tree: join(dir, 'linux'), ref: 'v6.12', series: join(dir, 'fix.mbox'), config: ['dax', 'lockdep'] });
  t.equal(uniqueKernels(cells).length, 2, 'each kernel once');
  t.same(await expandMatrix(c), cells, 'expansion is deterministic');
});

t.test('known-outcome files: relative to the config, on every cell', async (t) => {
  await writeFile(join(dir, 'known.txt'), 'smoke:dax-smoke.xfs  *  fail  our xfs is broken\n');
  const c = await parse({ kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'smoke' }], known: 'known.txt' });
  const cells = await expandMatrix(c);
  t.same(cells.map((x) => x.known), [[join(dir, 'known.txt')], [join(dir, 'known.txt')]]);
  t.notOk((await expandMatrix(await parse({ kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'smoke' }] })))[0].known, 'none by default');
});

t.test('the ndctl suite builds its kernels with the ndctl fragment: a kernel of its own', async (t) => {
  await mkdir(join(dir, 'ndctl'), { recursive: true });
  const c = await parse({ kernels: [{ name: 'deb', debian: '6.12' }], suites: [{ name: 'smoke' }, { name: 'ndctl', ndctl: 'ndctl' }] });
  const cells = await expandMatrix(c);
  t.same(cells.map((x) => x.key), ['deb.smoke.ext4.default', 'deb.smoke.xfs.default', 'deb.ndctl.all.default']);
  t.equal(uniqueKernels(cells).length, 2);
  t.equal(cells[2].image, 'rootfs');
});

t.test('shards: contiguous, disjoint, covering, deterministic', async (t) => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  for (const n of [1, 2, 3, 4, 10, 12]) {
    const parts = Array.from({ length: n }, (_, i) => shardCells(items, { index: i + 1, count: n }));
    t.same(parts.flat(), items, `${n} shards cover every cell once, in order`);
    const sizes = parts.map((p) => p.length);
    t.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${n} shards are balanced`);
  }
  t.same(parseShard('2/4'), { index: 2, count: 4 });
  t.throws(() => parseShard('0/4'), NightConfigError);
  t.throws(() => parseShard('5/4'), NightConfigError);
  t.throws(() => parseShard('1-4'), /^shard "1-4" is not i\/N/, 'below the CLI: the setting');
  t.match(
    (() => {
      try {
        parseShard('1-4');
      } catch (e) {
        return messageOf(e);
      }
      return '';
    })(),
    /^--shard "1-4" is not i\/N: write e\.g\. --shard 1\/4$/,
    'the CLI: its flag',
  );
});

t.test('mistakes: one line naming file, key and fix', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ suites: [{ name: 'smoke' }] }, /^n\.yaml: kernels: must list at least one kernel/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], bogus: 1 }, /^n\.yaml: bogus: unknown key: use one of/],
    [{ kernels: [{ name: 'a', debian: '6' }], suites: [{ name: 'smoke' }] }, /kernels\[0\]\.debian: "6" is not a Debian linux-source version: write e\.g\. debian: "6\.12"/],
    [{ kernels: [{ name: 'a', stock: true, series: 'fix.mbox' }], suites: [{ name: 'smoke' }] }, /kernels\[0\]\.series: only a built kernel/],
    [{ kernels: [{ name: 'a', stock: true, debian: '6.1' }], suites: [{ name: 'smoke' }] }, /kernels\[0\]: give exactly one of/],
    [{ kernels: [{ name: 'a', git: 'nope' }], suites: [{ name: 'smoke' }] }, /kernels\[0\]\.git: .*nope is not an existing dir/],
    [{ kernels: [{ name: 'a', stock: true }, { name: 'a', stock: true }], suites: [{ name: 'smoke' }] }, /kernels\[1\]\.name: "a" is used twice/],
    [{ kernels: [{ name: 'A b', stock: true }], suites: [{ name: 'smoke' }] }, /kernels\[0\]\.name: "A b" is not a name/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke', modes: ['btrfs'] }] }, /suites\[0\]\.modes\[0\]: "btrfs" is not a smoke filesystem: use ext4 or xfs/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke', tests: ['x'] }] }, /suites\[0\]\.tests: the smoke has no test list/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 's', suite: 'stressors', tests: ['nope'] }] }, /suites\[0\]\.tests\[0\]: "nope" is not a stressor/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'ndctl' }] }, /suites\[0\]\.ndctl: the ndctl suite needs ndctl: PATH/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], topologies: [{ name: 't', mem: 'lots' }] }, /topologies\[0\]\.mem: "lots" is not a size/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], topologies: [{ name: 't', nvdimms: 0 }] }, /topologies\[0\]: the topology has no pmem/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], overrides: [{ match: { kernel: 'b' }, repeat: 2 }] }, /overrides\[0\]\.match\.kernel: "b" is not one of the config's kernels: a/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], repeat: 0 }, /^n\.yaml: repeat: must be a whole number from 1/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], origin: 'My CI' }, /origin: "My CI" is not a KCIDB origin/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], known: ['none.txt'] }, /known\[0\]: .*none\.txt is not an existing file/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], known: ['bad-known.txt'] }, /known\[0\]: .*bad-known\.txt:2: status "broke" is not one of/],
    // What the schema (nightly/config.schema.json) catches that the hand-written checks did not, or named less well.
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke', modes: ['ext4', 'ext4'] }] }, /^n\.yaml: suites\[0\]\.modes\[1\]: "ext4" is listed twice: give each once$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke', modes: '' }] }, /^n\.yaml: suites\[0\]\.modes: must be a non-empty list$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke', modes: ['ext4', { xfs: 1 }] }] }, /^n\.yaml: suites\[0\]\.modes\[1\]: must be a non-empty string$/],
    [{ kernels: [{ name: 'a', stock: false }], suites: [{ name: 'smoke' }] }, /^n\.yaml: kernels\[0\]\.stock: write stock: true/],
    [{ kernels: [{ name: 'a', debian: '6.12', ref: 'v6.12' }], suites: [{ name: 'smoke' }] }, /^n\.yaml: kernels\[0\]\.ref: ref goes with git: PATH$/],
    [{ kernels: [{ name: 'a', debian: '6.12', configBase: 'allyes' }], suites: [{ name: 'smoke' }] }, /^n\.yaml: kernels\[0\]\.configBase: "allyes" is not tinyconfig or defconfig$/],
    [{ kernels: [{ stock: true }], suites: [{ name: 'smoke' }] }, /^n\.yaml: kernels\[0\]\.name: must be a non-empty string$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke', colour: 'x' }] }, /^n\.yaml: suites\[0\]\.colour: unknown key: use one of name, suite, modes, tests, ndctl, seconds, image, repeat$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], exclude: [{ colour: 'red' }] }, /^n\.yaml: exclude\[0\]\.colour: unknown key: use one of kernel, suite, mode, topology$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], overrides: [{ match: {}, repeat: 2 }] }, /^n\.yaml: overrides\[0\]\.match: must name at least one of kernel, suite, mode, topology$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], topologies: [{ name: 't', cpus: '2' }] }, /^n\.yaml: topologies\[0\]\.cpus: must be a whole number from 1 to 8$/],
    [{ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], accel: 'hvf' }, /^n\.yaml: accel: "hvf" is not kvm or tcg$/],
    [7, /^n\.yaml: \(top\): must be a mapping of keys to values$/],
  ];
  await writeFile(join(dir, 'bad-known.txt'), '# ours\nsmoke:dax-smoke.xfs  *  broke  reason\n');
  for (const [raw, re] of cases) {
    const e = await parse(raw).then(() => null, (x: Error) => x);
    t.ok(e instanceof NightConfigError, `${re} is a NightConfigError`);
    t.match(e?.message ?? '', re);
    t.notMatch(e?.message ?? '', /\n/, 'one line');
  }
  await writeFile(join(dir, 'bad.yaml'), 'kernels:\n  - name: a\n   stock: true\n');
  await t.rejects(loadNightConfig(join(dir, 'bad.yaml')), /bad\.yaml(:\d+)?: not valid YAML .*: fix the syntax/);
  await t.rejects(loadNightConfig(join(dir, 'missing.yaml')), /missing\.yaml: cannot read the config file/);
});

t.test('YAML numbers where the schema wants strings are read as strings, as before', async (t) => {
  const c = await parse({ kernels: [{ name: 612, debian: 6.12 }], suites: [{ name: 'smoke' }], topologies: [{ name: 't', mem: 4096 }], repeat: 2 });
  t.same(c.kernels[0], { name: '612', spec: { kind: 'debian', version: '6.12' } });
  t.equal(c.topologies[0].topology!.memMiB, 4096);
  t.equal(c.repeat, 2, 'a whole-number key keeps its number');
  const raw = { kernels: [{ name: ' a ', stock: true }], suites: [{ name: 'smoke' }] };
  t.equal((await parse(raw)).kernels[0].name, 'a', 'strings are trimmed');
  t.equal(raw.kernels[0].name, ' a ', "the caller's data is not changed");
});

t.test('the example config in the repo is valid and small', async (t) => {
  const c = await loadNightConfig(new URL('../../nightly/example.yaml', import.meta.url).pathname);
  const cells = await expandMatrix(c);
  t.ok(cells.length >= 2 && cells.length <= 6, `${cells.length} cells`);
  t.equal(uniqueKernels(cells).length, 1, 'one kernel: Debian\'s stock package, nothing to build');
});
