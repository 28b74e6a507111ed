import t from 'tap';
import { mesonStatus, parseTestlog, parseTestList, parseIntrospectTimeouts, skipReason, explainSkip, failReason, outerLimitMs } from '../../harness/src/suites/ndctl.ts';
import { mirrorFromSources, subordinateRange } from '../../harness/src/image/rootfs.ts';

t.test('meson results map onto ours; a TIMEOUT is never a pass', async (t) => {
  t.equal(mesonStatus('OK'), 'pass');
  t.equal(mesonStatus('EXPECTEDFAIL'), 'pass');
  t.equal(mesonStatus('SKIP'), 'skip');
  t.equal(mesonStatus('TIMEOUT'), 'timeout');
  for (const r of ['FAIL', 'ERROR', 'UNEXPECTEDPASS', '']) t.equal(mesonStatus(r), 'fail', r || 'empty');
});

t.test('testlog JSON: fields kept, env dropped, a truncated line ignored', async (t) => {
  const line = JSON.stringify({ name: 'ndctl:dax / skip.sh', stdout: 'no nfit_test\n', result: 'SKIP', returncode: 77, duration: 0.01, env: { SECRET: 'x' } });
  const got = parseTestlog(`${line}\n{"name": "ndctl:dax / cut`);
  t.equal(got.length, 1);
  t.same(got[0], { name: 'ndctl:dax / skip.sh', result: 'SKIP', returncode: 77, duration: 0.01, stdout: 'no nfit_test\n', stderr: undefined });
  t.notOk(JSON.stringify(got).includes('SECRET'), 'the environment dump is not carried');
  t.equal(skipReason(got[0]!), 'no nfit_test');
  t.equal(skipReason({ name: 'x', result: 'SKIP', returncode: 77, duration: 0, stdout: '' }), 'skipped (exit 77) without saying why');
});

t.test("reasons come from the test's own words, not xtrace, library debug or journal lines", async (t) => {
  const skip = {
    name: 'daxctl-create.sh',
    result: 'SKIP',
    returncode: 77,
    duration: 1,
    stdout: [
      '+ modprobe cxl_test',
      'modprobe: FATAL: Module cxl_test not found in directory /lib/modules/6.1.0-56-amd64',
      '++ jq -r .id',
      "+ printf 'cannot find a test region\\n'",
      'cannot find a test region',
      '+ exit 77',
      '',
    ].join('\n'),
  };
  t.equal(skipReason(skip), 'cannot find a test region');
  t.match(explainSkip(skip), /^cannot find a test region \(harness: no cxl_test for this kernel: .*CONFIG_CXL_BUS/, 'a known cause is named');
  t.equal(explainSkip({ ...skip, stdout: 'no nfit_test\n' }), 'no nfit_test', 'no hint without a known cause');
  const fail = {
    name: 'device-dax',
    result: 'FAIL',
    returncode: 250,
    duration: 1,
    stdout: '{\n  "mode":"devdax"\n}\n',
    stderr: 'libndctl: ndctl_namespace_enable: namespace1.0: enabled\ndax1.0: failed to open(O_RDONLY) device-dax instance\nlibndctl: ndctl_unref: context 0x55 released\n',
  };
  t.equal(failReason(fail), 'dax1.0: failed to open(O_RDONLY) device-dax instance');
  const journal = { name: 'x', result: 'FAIL', returncode: 1, duration: 1, stdout: 'test/dm.sh: failed at line 40\nNov 21 11:08:12 guest kernel: pmem0: detected capacity change\n+ exit 1\n' };
  t.equal(failReason(journal), 'test/dm.sh: failed at line 40');
  t.equal(failReason({ name: 'x', result: 'FAIL', returncode: 1, duration: 1, stdout: '+ false\n' }), 'no output', 'xtrace alone says nothing');
});

t.test('test list and timeouts of one suite, in meson order', async (t) => {
  const list = 'ndctl:dax / c-ok\nndctl:ndctl / other\nndctl:dax / hang.sh\n';
  t.same(parseTestList(list, 'ndctl:dax'), ['c-ok', 'hang.sh']);
  const intro = JSON.stringify([
    { name: 'c-ok', suite: ['ndctl:dax'], timeout: 600 },
    { name: 'hang.sh', suite: ['ndctl:dax'], timeout: 0 },
    { name: 'other', suite: ['ndctl:ndctl'], timeout: 30 },
  ]);
  t.same([...parseIntrospectTimeouts(intro, 'ndctl:dax')], [['c-ok', 600], ['hang.sh', 0]]);
});

t.test('outer watchdog: meson timeout scaled plus room; the hang limit when meson has none', async (t) => {
  t.equal(outerLimitMs(600, 3, 1800000), (1800 + 60) * 1000);
  t.equal(outerLimitMs(0, 3, 20000), 20000);
});

t.test('bootstrap mirror from the host apt sources', async (t) => {
  t.equal(mirrorFromSources('Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n'), 'http://deb.debian.org/debian');
  t.equal(mirrorFromSources('deb [arch=amd64] http://mirror.example/debian/ bookworm main\n'), 'http://mirror.example/debian');
  t.equal(mirrorFromSources('deb http://security.debian.org/debian-security bookworm-security main\n'), null);
});

t.test('subordinate ids: by name or uid, and only a whole 16-bit range', async (t) => {
  const text = 'alice:100000:65536\n1001:165536:65536\nbob:231072:1000\n# comment\n';
  t.same(subordinateRange(text, 'alice', 1000), { start: 100000, count: 65536 });
  t.same(subordinateRange(text, 'carol', 1001), { start: 165536, count: 65536 });
  // mmdebstrap maps 65536 ids: a smaller range cannot build the image.
  t.equal(subordinateRange(text, 'bob', 1002), null);
  t.equal(subordinateRange(text, 'dave', 1003), null);
  t.equal(subordinateRange('', 'alice', 1000), null);
  // A name that is a prefix of another's must not match it.
  t.equal(subordinateRange('alicex:100000:65536\n', 'alice', 1000), null);
});
