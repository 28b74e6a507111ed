// The addr2line symbolizer, for real: against a tiny C program's own DWARF
// (the stock kernel's -dbg vmlinux is the long proof in test-long/).
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Addr2lineSymbolizer, parseSystemMap, parseAddr2line, stripBuildPath } from '../../harness/src/kernel/symbolize.js';
import { parseFrame, symbolizeReport, parseLog, type Symbolizer } from '../../harness/src/oracle/index.js';

t.test('parsers', async (t) => {
  const tab = parseSystemMap('ffffffff81000000 T _text\nffffffff81000010 t a\nffffffff81000040 t b\nffffffff81000050 d data\n');
  t.equal(tab.get('a')![0]!.size, 0x30n);
  t.equal(tab.get('b')![0]!.size, 0x10n);
  t.notOk(tab.has('data'));
  const g = parseAddr2line('0x10\ninner\ndebian/build/x/include/linux/mm.h:12 (discriminator 2)\nouter\n/b/linux-6.1/fs/dax.c:99\n0x20\n??\n??:0\n');
  t.same(g[0], [
    { fn: 'inner', file: 'include/linux/mm.h', line: 12 },
    { fn: 'outer', file: 'fs/dax.c', line: 99 },
  ]);
  t.same(g[1], [{ fn: '??', file: null, line: null }]);
  t.equal(stripBuildPath('debian/build/build_amd64_none_amd64/drivers/tty/sysrq.c'), 'drivers/tty/sysrq.c');
});

t.test('tiny C program: file:line and inlined callees', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'symb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'prog.c');
  writeFileSync(
    src,
    [
      'static inline __attribute__((always_inline)) int helper(volatile int *p) {',
      '  return *p * 3 + 1;', // line 2
      '}',
      '__attribute__((noinline)) int outer(volatile int *p) {',
      '  int r = helper(p);', // line 5
      '  return r + *p;',
      '}',
      'int main(void) { volatile int x = 2; return outer(&x); }',
      '',
    ].join('\n'),
  );
  const bin = join(dir, 'prog');
  execFileSync('gcc', ['-g', '-O2', '-fno-pie', '-no-pie', '-o', bin, src]);
  const map = join(dir, 'System.map');
  writeFileSync(map, execFileSync('nm', ['-n', bin], { encoding: 'utf8' }));
  const tab = parseSystemMap(execFileSync('nm', ['-n', bin], { encoding: 'utf8' }));
  const size = Number(tab.get('outer')![0]!.size);
  // Find an offset inside outer() that addr2line attributes to the inlined helper.
  const start = tab.get('outer')![0]!.addr;
  let off = -1;
  for (let o = 0; o < size && off < 0; o++) {
    const out = execFileSync('addr2line', ['-i', '-f', '-e', bin, `0x${(start + BigInt(o)).toString(16)}`], { encoding: 'utf8' });
    if (out.startsWith('helper\n')) off = o;
  }
  t.ok(off >= 0, 'some instruction of outer() comes from helper()');
  const s: Symbolizer = new Addr2lineSymbolizer({ vmlinux: bin, systemMap: map });
  const rip = { ...parseFrame(`outer+0x${off.toString(16)}/0x${size.toString(16)}`)!, section: 'rip' };
  const [r] = await s.symbolize([rip]);
  t.equal(r!.fn, 'outer');
  t.match(r!.file, /prog\.c$/);
  t.equal(r!.line, 5, 'outer line is the inline call site');
  t.equal(r!.inlined?.[0]?.fn, 'helper');
  t.equal(r!.inlined?.[0]?.line, 2);
  t.equal(r!.inlined?.[0]?.inline, true);
  const [unknown] = await s.symbolize([parseFrame('no_such_fn+0x1/0x2')!]);
  t.equal(unknown!.file, null, 'unknown symbols pass through');
});

t.test('symbolizeReport fills the RIP, the stack and the other CPUs\' stacks, each in place', async (t) => {
  const log = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus/soft-lockup-text-poke-partner.log'), 'utf8');
  const [r] = parseLog(log);
  let calls = 0;
  // A stand-in that names each frame's file after its function, so a frame moved to another place shows.
  const fake: Symbolizer = {
    symbolize: async (frames) => {
      calls++;
      return frames.map((f) => ({ ...f, file: `${f.fn}.c`, line: 1 }));
    },
  };
  const s = await symbolizeReport(r!, fake);
  t.equal(calls, 1, 'one batch');
  t.equal(s.rip?.file, 'smp_call_function_many_cond.c');
  t.ok(s.frames!.length > 0 && s.frames!.every((f) => f.file === `${f.fn}.c`));
  const [cpu] = s.cpus!;
  t.equal(cpu!.rip?.file, 'native_queued_spin_lock_slowpath.c');
  t.same(cpu!.frames.map((f) => f.file), r!.cpus![0]!.frames.map((f) => `${f.fn}.c`));
  t.equal(cpu!.culprit, true, 'the rest of the CPU record is kept');
  t.equal(r!.cpus![0]!.rip?.file, null, 'the report itself is not changed');
});
