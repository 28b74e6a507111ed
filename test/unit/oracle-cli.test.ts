import t from 'tap';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLogCommand } from '../../harness/src/cli/parse-log.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const log = console.log;
  const error = console.error;
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  console.log = (...a: unknown[]) => void (out += a.join(' ') + '\n');
  console.error = (...a: unknown[]) => void (err += a.join(' ') + '\n');
  try {
    const code = await parseLogCommand(argv);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    console.log = log;
    console.error = error;
  }
}

t.test('human output and exit codes', async (t) => {
  const r = await capture([join(corpus, 'seed-000-joined.log')]);
  t.equal(r.code, 1, 'reports found -> 1');
  t.match(r.out, /\[1\] kernel BUG in dax_insert_pfn_pmd/);
  t.match(r.out, /folio_ref_zero_or_close_to_overflow/);
  t.match(r.out, /page dump \(6\.2-6\.8\): refcount:0/);
  const clean = await capture([join(corpus, 'clean-boot.log')]);
  t.equal(clean.code, 0);
  t.match(clean.out, /no kernel reports found/);
});

t.test('--json', async (t) => {
  const r = await capture(['--json', join(corpus, 'two-reports.log')]);
  const j = JSON.parse(r.out) as Array<{ title: string; fatal: boolean }>;
  t.same(j.map((x) => x.title), ['WARNING in dax_folio_put', 'BUG: unable to handle kernel NULL pointer dereference in dax_writeback_one']);
});

t.test('--help and usage errors are one line', async (t) => {
  const h = await capture(['--help']);
  t.equal(h.code, 0);
  t.match(h.out, /usage: dax-harness parse-log/);
  const bad = await capture(['--frobnicate']);
  t.equal(bad.code, 2);
  t.equal(bad.err.trim().split('\n').length, 1);
  t.match(bad.err, /^dax-harness parse-log: /);
  const two = await capture(['a', 'b']);
  t.equal(two.code, 2);
});

t.test('unreadable files', async (t) => {
  const missing = await capture(['/nonexistent/console.log']);
  t.equal(missing.code, 2);
  t.equal(missing.err, 'dax-harness parse-log: cannot read /nonexistent/console.log: no such file or directory\n');
  const dir = mkdtempSync(join(tmpdir(), 'parse-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = await capture([dir]);
  t.equal(d.code, 2);
  t.match(d.err, /cannot read .*: is a directory/);
  if (process.getuid?.() !== 0) {
    const f = join(dir, 'secret.log');
    writeFileSync(f, 'x');
    chmodSync(f, 0);
    const p = await capture([f]);
    t.equal(p.code, 2);
    t.match(p.err, /permission denied/);
  }
});
