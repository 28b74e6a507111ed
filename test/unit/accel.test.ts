// The accelerator verdict: probed once per host with a known-good kernel, kept
// with the CPU model that worked, and never poisoned by a kernel under test.
// The boot itself is injected (no guest boots in a unit test).
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseAccel, type ProbeTarget, type ProbeResult } from '../../harness/src/vm/accel.ts';

const stock: ProbeTarget = { kernel: '/cache/kernels/debian/vmlinuz-6.1.0-stock', initrd: '/cache/images/initramfs/image.cpio' };
const underTest = { kernel: '/build/broken/bzImage', initrd: '/cache/initrd/with-modules.cpio' };

function fresh(): void {
  process.env.DAX_HARNESS_CACHE = mkdtempSync(join(tmpdir(), 'daxh-accel-'));
}

function booter(works: (target: ProbeTarget, cpu: string) => boolean) {
  const calls: Array<{ kernel: string; cpu: string }> = [];
  const boot = async (target: ProbeTarget, cpu: string): Promise<ProbeResult> => {
    calls.push({ kernel: target.kernel, cpu });
    return works(target, cpu) ? { ok: true, ms: 900 } : { ok: false, why: `guest hung, no init within 20 s` };
  };
  return { boot, calls };
}

const kvm = async () => true;
const log = () => {};

t.test('the probe boots the known-good kernel, and the CPU model that worked is kept and reused', async (t) => {
  fresh();
  const b = booter((_, cpu) => cpu === 'kvm64');
  let fetched = 0;
  const probeTarget = async () => (fetched++, stock);
  const first = await chooseAccel({ ...underTest, probeTarget, boot: b.boot, kvmUsable: kvm, log });
  t.same(b.calls, [{ kernel: stock.kernel, cpu: 'host' }, { kernel: stock.kernel, cpu: 'kvm64' }], 'never the kernel under test');
  t.match(first, { used: 'kvm', cpu: 'kvm64' });
  const again = await chooseAccel({ ...underTest, probeTarget, boot: b.boot, kvmUsable: kvm, log });
  t.match(again, { used: 'kvm', cpu: 'kvm64' }, 'the cached verdict keeps the CPU model');
  t.match(again.why, /cached probe/);
  t.equal(b.calls.length, 2, 'no second probe');
  t.equal(fetched, 1, 'the stock kernel is fetched only for the probe');
});

t.test('a broken kernel under test cannot turn a KVM host into TCG for good', async (t) => {
  fresh();
  // KVM works for every kernel but the broken one.
  const b = booter((target) => target.kernel !== underTest.kernel);
  const legacy = await chooseAccel({ ...underTest, boot: b.boot, kvmUsable: kvm, log });
  t.equal(legacy.used, 'tcg', 'a caller that still probes with the kernel under test gets TCG for this run');
  t.match(legacy.why, /not cached/);
  const next = await chooseAccel({ ...underTest, probeTarget: async () => stock, boot: b.boot, kvmUsable: kvm, log });
  t.match(next, { used: 'kvm', cpu: 'host' }, 'and the next run, with the known-good kernel, finds KVM');
});

t.test('a host where even the known-good kernel fails is TCG, and that is cached', async (t) => {
  fresh();
  const b = booter(() => false);
  const first = await chooseAccel({ probeTarget: async () => stock, boot: b.boot, kvmUsable: kvm, log });
  t.equal(first.used, 'tcg');
  t.match(first.why, /-cpu host: guest hung.*-cpu kvm64: guest hung/);
  const again = await chooseAccel({ probeTarget: async () => stock, boot: b.boot, kvmUsable: kvm, log });
  t.equal(again.used, 'tcg');
  t.equal(b.calls.length, 2, 'probed once');
});

t.test('no /dev/kvm, or --accel: no probe and no kernel fetched', async (t) => {
  fresh();
  const b = booter(() => true);
  const probeTarget = async () => {
    throw new Error('must not fetch');
  };
  t.match(await chooseAccel({ probeTarget, boot: b.boot, kvmUsable: async () => false, log }), { used: 'tcg', why: 'no usable /dev/kvm' });
  t.match(await chooseAccel({ override: 'tcg', probeTarget, boot: b.boot, kvmUsable: kvm, log }), { used: 'tcg', why: /forced/ });
  t.equal(b.calls.length, 0);
});
