// dax-harness repro on real guests, through its command line:
// 1. a crash one of our stressors really triggers on Debian's 6.1 kernel
//    (reflink_share on xfs with reflink: WARNING in the dax entry code), its
//    console captured, mailed back quoted, wrapped and quoted-printable, is
//    reproduced, with the rate, the comparison and the commands;
// 2. a crash our tests cannot trigger on that kernel ends at the budget,
//    "not reproduced", with what was tried.
// The bisect fixture's crash report on the fixture kernel (a kernel build) is
// in test-long/repro-fixture.test.ts.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { repro } from '../repro-cli.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { parseLog } from '../../harness/src/oracle/index.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** A mail client's reply: the log quoted with "> ", wrapped at 78 columns, sent quoted-printable. */
function replyMail(logLines: string[], kernel: string): { mail: string; body: string } {
  const wrap = (line: string): string[] => {
    const out: string[] = [];
    let rest = line;
    while (rest.length > 76) {
      const cut = rest.lastIndexOf(' ', 76);
      const at = cut > 20 ? cut : 76;
      out.push(rest.slice(0, at));
      rest = rest.slice(at).replace(/^ /, '');
    }
    out.push(rest);
    return out;
  };
  const body = [
    'Hi,',
    '',
    `running our DAX tests on Debian's ${kernel} kernel (QEMU,`,
    'emulated NVDIMM, xfs with reflink=1 mounted -o dax), two files',
    'sharing a block both fault it in and the kernel warns:',
    '',
    ...logLines.flatMap(wrap).map((l) => `> ${l}`),
    '',
    'Is this known?',
    '',
    'Thanks,',
    'Sam',
  ].join('\n');
  // Quoted-printable: "=" escaped, long lines soft-broken.
  const qp = body
    .split('\n')
    .map((l) => {
      const e = l.replace(/=/g, '=3D');
      const parts: string[] = [];
      let r = e;
      while (r.length > 75) {
        let cut = 75;
        if (/=[0-9A-F]?$/.test(r.slice(0, cut))) cut = r.lastIndexOf('=', cut);
        parts.push(`${r.slice(0, cut)}=`);
        r = r.slice(cut);
      }
      parts.push(r);
      return parts.join('\n');
    })
    .join('\n');
  const mail = [
    'From: Sam Tester <sam@example.org>',
    'To: nvdimm@lists.example.dev',
    'Subject: Re: WARNING with fsdax and reflinked files on 6.1',
    'Date: Thu, 26 Nov 2026 10:02:11 +0000',
    'Message-ID: <20261126100211.sam@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp,
    '',
  ].join('\n');
  return { mail, body };
}

t.test('a crash our stressor triggers, captured and mailed back, is reproduced', async (t) => {
  // The capture: one real run of the stressor that meets the known 6.1 bug.
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'stock' },
    image: 'initramfs',
    topology: defaultTopology,
    resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-capture-')),
    suite: 'stressors',
    tests: ['reflink_share.xfs-reflink'],
    filesystems: [],
    seconds: 0,
    seed: 1,
    bootTimeoutMs: 240000,
    cmdlineExtra: [],
    progress: () => {},
  });
  const crash = record.crashes.find((c) => /dax_(insert|associate|disassociate)_entry/.test(c.title));
  if (!t.ok(crash, `the capture run met the known 6.1 WARNING (got: ${record.crashes.map((c) => c.title).join('; ') || record.reason})`)) return;
  const consoleLines = readFileSync(join(runDir, 'console.log'), 'utf8').split('\n');
  const lines = consoleLines.slice(crash!.startLine, crash!.endLine + 1);
  const { mail, body } = replyMail(lines, record.kernel!.release);
  const mailFile = join(mkdtempSync(join(tmpdir(), 'daxh-mail-')), 'reply.eml');
  writeFileSync(mailFile, mail);
  t.ok(lines.some((l) => l.length > 78) && !body.split('\n').some((l) => l.length > 78), 'the log is quoted and wrapped at 78 columns');
  t.ok(mail.split('\n').some((l) => l.endsWith('=') && l.startsWith('> ')), 'and soft-broken by quoted-printable');

  const started = Date.now();
  const r = await repro(['--budget', '15m', '--confirm', '2', mailFile]);
  t.equal(r.code, 0, `reproduced (exit 0):\n${r.out}`);
  const rec = JSON.parse(readFileSync(join(r.dir, 'repro.json'), 'utf8'));
  t.equal(rec.status, 'reproduced');
  t.equal(rec.plan.reported.title, crash!.title, 'the crash read from the mail is the captured one');
  t.equal(rec.plan.kernel.argv.join(' '), `--kernel-package linux-image-${record.kernel!.release}`, "the report's own Debian kernel is chosen");
  t.equal(rec.summary.found.test, 'reflink_share.xfs-reflink', 'found by the stressor that made it');
  t.equal(rec.summary.comparison.rows.find((x: { field: string }) => x.field === 'title').agree, true, 'the titles agree field by field');
  t.ok(rec.summary.rate.n >= 3 && rec.summary.rate.k >= 1, `a rate over the test's runs: ${rec.summary.rate.k}/${rec.summary.rate.n}`);
  t.ok(rec.summary.rate.lo <= rec.summary.rate.p && rec.summary.rate.p <= rec.summary.rate.hi, 'with its interval');
  t.ok(rec.summary.timeToFirstMs > 0 && rec.summary.timeToFirstMs < Date.now() - started, `time to first reproduction ${rec.summary.timeToFirstMs} ms`);
  t.match(r.out, /dax-harness repro --kernel-package linux-image-\S+ --test reflink_share\.xfs-reflink .*reply\.eml/, 'the command that reproduces it');
  t.match(r.out, /one run: dax-harness run --kernel-package \S+ --suite stressors --test reflink_share\.xfs-reflink/);
  const firstRun = rec.summary.found.runDir as string;
  t.ok(existsSync(join(firstRun, 'console.log')), 'the reproducing run kept its console');
  t.ok(
    parseLog(readFileSync(join(firstRun, 'console.log'), 'utf8')).some((c) => c.title === crash!.title),
    'and the crash is in it',
  );
  t.equal(readFileSync(join(r.dir, 'summary.txt'), 'utf8').split('\n')[2], r.out.split('\n')[2], 'summary.txt is what was printed');
});

t.test('a crash our tests cannot trigger: not reproduced at the budget, and what was tried', async (t) => {
  // A 6.6 development kernel's BUG in the PMD fault path: Debian's 6.1 has not got it.
  const report = join(repo, 'harness/src/oracle/corpus/intake/indented-2-timestamps.txt');
  const budgetMs = 90_000;
  const started = Date.now();
  const r = await repro(['--budget', '90s', report]);
  const took = Date.now() - started;
  t.equal(r.code, 1, `not reproduced (exit 1):\n${r.out}`);
  t.match(r.out, /NOT REPRODUCED within the 90s budget: \d+ passes/);
  const rec = JSON.parse(readFileSync(join(r.dir, 'repro.json'), 'utf8'));
  t.equal(rec.status, 'not-reproduced');
  const tried = rec.summary.tried.filter((x: { runs: number }) => x.runs > 0);
  t.ok(tried.length >= 2, `more than one test tried: ${tried.map((x: { id: string; runs: number }) => `${x.id}×${x.runs}`).join(', ')}`);
  t.match(r.out, /tried:\n {2}\S+ +\d+ runs?/);
  t.ok(rec.passes.length >= tried.length, 'every pass is recorded');
  t.ok(took < budgetMs + 90_000, `the budget is kept (${Math.round(took / 1000)} s for 90 s, preparation and the last teardown included)`);
  t.notMatch(r.out, /reproduce it:/);
});
