import t from 'tap';
import { parseFrame, parseFrames, parseRip, parseRegisters, parseHeader, normaliseFn } from '../../harness/src/oracle/stack.js';

t.test('frames', async (t) => {
  const f = parseFrame(' dax_fault_iter+0x5d0/0x700')!;
  t.match(f, { fn: 'dax_fault_iter', offset: 0x5d0, size: 0x700, module: null, reliable: true, inline: false });
  t.match(parseFrame('? die+0x32/0x80')!, { fn: 'die', reliable: false });
  t.match(parseFrame('dev_dax_release+0x3a/0x60 [device_dax]')!, { module: 'device_dax' });
  t.match(parseFrame('nd_pmem_probe+0x1/0x2 [nd_pmem 1a2b3c4d5e6f]')!, { module: 'nd_pmem' });
  t.match(parseFrame('zap_pmd_range.isra.0+0x104/0x230')!, { fn: 'zap_pmd_range.isra.0', norm: 'zap_pmd_range' });
  t.match(parseFrame('show_stack+0x1/0x2 (unreliable)')!, { reliable: false });
  t.match(parseFrame('dax_fault_iter+0x5d0/0x700 fs/dax.c:1625')!, { file: 'fs/dax.c', line: 1625 });
  t.match(parseFrame('folio_get include/linux/mm.h:1419 [inline]')!, { fn: 'folio_get', inline: true, file: 'include/linux/mm.h', line: 1419, offset: null });
  t.match(parseFrame('dax_fault_iter (fs/dax.c:1625)')!, { fn: 'dax_fault_iter', file: 'fs/dax.c' });
  t.equal(parseFrame('Call Trace:'), null);
  t.equal(normaliseFn('f.constprop.0.isra.0'), 'f');
  t.equal(normaliseFn('g.cold'), 'g');
  t.equal(normaliseFn('h.llvm.123456'), 'h');
});

t.test('sections and RIP', async (t) => {
  const lines = ['RIP: 0010:dax_insert_pfn_pmd+0x41c/0x430', 'Call Trace:', ' <TASK>', ' a+0x1/0x2', 'RIP: 0033:0x7f00', ' </TASK>', 'Allocated by task 1:', ' b+0x1/0x2', 'Freed by task 2:', ' c+0x1/0x2', ' #0: ffff (&x){++++}-{3:3}, at: d+0x1/0x2'];
  t.match(parseRip(lines), { fn: 'dax_insert_pfn_pmd', section: 'rip' });
  t.equal(parseRip(['RIP: 0033:0x7fdaa072d009']), null, 'user RIP');
  t.match(parseRip(['pc : arm_fn+0x10/0x40']), { fn: 'arm_fn' });
  t.same(parseFrames(lines).map((f) => `${f.section}:${f.fn}`), ['stack:a', 'alloc:b', 'free:c']);
});

t.test('registers', async (t) => {
  const r = parseRegisters([
    'RSP: 0018:ffffc90000f3fb48 EFLAGS: 00010246',
    'RAX: 0000000000000000 RBX: ffffea0005f08000 RCX: 0000000000000000',
    'FS:  00007f3d1c2b9740(0000) GS:ffff88813bc00000(0000) knlGS:0000000000000000',
    'CR2: 00007f3d1b800000 CR3: 000000010a2e4000 CR4: 00000000000006f0',
  ]);
  t.equal(r.RSP, '0018:ffffc90000f3fb48');
  t.equal(r.EFLAGS, '00010246');
  t.equal(r.RBX, 'ffffea0005f08000');
  t.equal(r.GS, 'ffff88813bc00000(0000)');
  t.equal(r.CR2, '00007f3d1b800000');
});

t.test('header fields', async (t) => {
  const h = parseHeader(['CPU: 0 UID: 0 PID: 1415 Comm: dax pmd Tainted: G        W  OE      6.12.0-rc4+ #209 PREEMPT(voluntary)', 'Hardware name: QEMU Standard PC']);
  t.match(h, { cpu: 0, uid: 0, pid: 1415, comm: 'dax pmd', kernelVersion: '6.12.0-rc4+', hardware: 'QEMU Standard PC' });
  t.equal(h.tainted!.letters, 'WOE');
  const n = parseHeader(['WARNING: fs/dax.c:1 at f+0x1/0x2, CPU#3: kworker/3:1/77']);
  t.match(n, { cpu: 3, comm: 'kworker/3:1', pid: 77 });
  t.match(parseHeader(['      Not tainted 6.15.0-rc1 #7']), { kernelVersion: '6.15.0-rc1', tainted: { value: 0 } });
  t.match(parseHeader(['6.8.0-lockdep #4 Tainted: G        W']), { kernelVersion: '6.8.0-lockdep', tainted: { letters: 'W' } });
});
