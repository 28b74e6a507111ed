// Under TCG, decompressing a bzImage costs seconds before the kernel prints a
// line. QEMU can instead load an uncompressed vmlinux directly through its PVH
// entry point (CONFIG_PVH), so the kernel is extracted once and cached.
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached, exists, sha256 } from '../host/fsutil.ts';
import type { KernelArtifact } from '../results/records.ts';

const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** True when an ELF64 image carries the Xen PVH entry note QEMU needs. */
export function hasPvhNote(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  const phnum = elf.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    let off = Number(elf.readBigUInt64LE(ph + 8));
    const end = off + Number(elf.readBigUInt64LE(ph + 32));
    while (off + 12 <= end && end <= elf.length) {
      const namesz = elf.readUInt32LE(off);
      const descsz = elf.readUInt32LE(off + 4);
      const type = elf.readUInt32LE(off + 8);
      const name = elf.toString('latin1', off + 12, off + 12 + Math.max(0, namesz - 1));
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

const MAGICS: Array<{ magic: Buffer; tool: string; args: string[] }> = [
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), tool: 'xz', args: ['-dc', '--single-stream'] },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), tool: 'zstd', args: ['-dc'] },
  { magic: Buffer.from([0x1f, 0x8b, 0x08]), tool: 'gzip', args: ['-dc'] },
];

/** The PVH-bootable vmlinux for a kernel, or null when it has none (then boot the bzImage). */
export async function pvhKernel(k: KernelArtifact): Promise<string | null> {
  if (k.vmlinux && (await exists(k.vmlinux))) {
    const fh = await open(k.vmlinux, 'r');
    try {
      const head = Buffer.alloc(1 << 20);
      await fh.read(head, 0, head.length, 0);
      if (hasPvhNote(head)) return k.vmlinux;
    } finally {
      await fh.close();
    }
  }
  const dir = cacheDir('pvh', sha256('pvh-v1', k.key).slice(0, 24));
  await buildCached(dir, async (tmp) => {
    const img = await readFile(k.bzImage);
    for (const m of MAGICS) {
      for (let at = img.indexOf(m.magic); at >= 0; at = img.indexOf(m.magic, at + 1)) {
        const payload = join(tmp, 'payload');
        await writeFile(payload, img.subarray(at));
        const out = join(tmp, 'vmlinux');
        const r = await run(m.tool, [...m.args, payload], { timeoutMs: 120000, reject: false, stdoutFile: out });
        if (r.exitCode !== 0 && !(await exists(out))) continue;
        const elf = await readFile(out);
        if (hasPvhNote(elf)) {
          await writeFile(join(tmp, 'ok'), '');
          await run('rm', ['-f', payload], { timeoutMs: 10000 });
          return;
        }
      }
    }
    // No PVH note: remember that, so the next run does not search again.
    await run('rm', ['-f', join(tmp, 'payload'), join(tmp, 'vmlinux')], { timeoutMs: 10000 });
  });
  return (await exists(join(dir, 'ok'))) ? join(dir, 'vmlinux') : null;
}
