// The addr2line symbolizer, for real: against a tiny C program's own DWARF
// (the stock kernel's -dbg vmlinux is the long proof in test-long/).
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
