// NVDIMM / legacy-pmem topology: parsing from CLI words, validation before
// QEMU starts, and a stable hash that every result carries.
import { createHash } from 'node:crypto';
import type { Topology, NvdimmSpec, MemmapSpec } from '../results/records.ts';
import { SettingsError, setting, withSettings, type SettingText } from '../host/errors.ts';

/** A topology the guest cannot have; its text names settings by key (cpus, mem, memmap), for the CLI to spell as flags. */
export class TopologyError extends SettingsError {}

const bad = (strings: TemplateStringsArray, ...values: unknown[]) => new TopologyError(withSettings(strings, ...values));
const CPUS = setting('cpus');
const MEM = setting('mem');
const NUMA = setting('numa');
const NVDIMMS = setting('nvdimms');
const NVDIMM_SIZE = setting('nvdimmSize');
const MEMMAP = setting('memmap');
const APPEND = setting('append');

export const defaultTopology: Topology = {
  // One labelled DIMM: 2050 MiB leaves a 2048 MiB region after the 2 MiB label
  // area, which keeps ndctl's 16 MiB region alignment (a 2048 MiB file would not).
  nvdimms: [{ sizeMiB: 2050, labelSizeMiB: 2 }],
  memmap: [],
  memMiB: 2048,
  cpus: 2,
};

/** q35 splits RAM around the PCI hole: this is where guest-physical RAM lives. */
export function ramRanges(memMiB: number): Array<{ startMiB: number; endMiB: number }> {
  const lowmemMax = memMiB >= 2816 ? 2048 : 3072;
  const low = Math.min(memMiB, lowmemMax);
  const ranges = [{ startMiB: 0, endMiB: low }];
  if (memMiB > low) ranges.push({ startMiB: 4096, endMiB: 4096 + (memMiB - low) });
  return ranges;
}

/** Parse `SIZE[!START]` style sizes: 2G, 2050M, 512 (MiB). */
export function parseSizeMiB(text: string, what: string): number {
  const m = /^(\d+)([MmGg]?)(i?B)?$/.exec(text.trim());
  if (!m) throw bad`${what} "${text}" is not a size: use e.g. 2050M or 4G`;
  const n = Number(m[1]);
  // Past 2^40 MiB is no machine's size (and past 2^53 not even a whole number): said here, not as "InfinityM".
  if (n > 2 ** 40) throw bad`${what} "${text}" is not a size any guest could have: use e.g. 2050M or 4G`;
  return m[2].toLowerCase() === 'g' ? n * 1024 : n;
}

/** `--memmap 1G!5G` (size!start) → MemmapSpec. */
export function parseMemmap(text: string): MemmapSpec {
  const parts = text.split('!');
  if (parts.length !== 2) throw bad`${MEMMAP} "${text}" must be SIZE!START, e.g. 1G!5G`;
  return { sizeMiB: parseSizeMiB(parts[0], 'memmap size'), startMiB: parseSizeMiB(parts[1], 'memmap start') };
}

/** A guest-physical address range, in MiB, and what holds it. */
export interface Region {
  /** What holds it, as an error names it (a --memmap range names its setting). */
  name: string | SettingText;
  startMiB: number;
  endMiB: number;
}

/**
 * QEMU loads the initramfs at the top of the RAM below 4 GiB, and the
 * firmware's ACPI tables sit there too: a memmap= range there turns them into
 * pmem. Today's initramfs is ~40 MiB; the band leaves room for it to grow.
 */
export const INITRD_BAND_MIB = 256;

/** Where QEMU places each NVDIMM: from the first 1 GiB boundary above the RAM over 4 GiB, one after another. */
export function nvdimmRanges(t: Topology): Region[] {
  const ram = ramRanges(t.memMiB);
  let at = Math.ceil((ram[1]?.endMiB ?? 4096) / 1024) * 1024;
  return t.nvdimms.map((d, i) => {
    const r = { name: `NVDIMM ${i}`, startMiB: at, endMiB: at + d.sizeMiB };
    at = Math.ceil(r.endMiB / 2) * 2;
    return r;
  });
}

/** The kernel's memparse: a number (decimal or 0x hex) with an optional K/M/G/T suffix; plain is bytes. */
function memparseMiB(text: string): number | null {
  const m = /^(0x[0-9a-f]+|\d+)([kmgt]?)$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const shift = { '': -20, k: -10, m: 0, g: 10, t: 20 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return n * 2 ** shift;
}

/**
 * Ranges that `memmap=` words on the kernel command line take out of RAM
 * (pmem `!`, ACPI `#`, reserved `$`, type change `%`); `@` (usable RAM) and
 * `exactmap` take nothing.
 */
export function cmdlineMemmaps(words: string[]): Region[] {
  const out: Region[] = [];
  for (const w of words) {
    if (!w.startsWith('memmap=')) continue;
    for (const part of w.slice('memmap='.length).split(',')) {
      const m = /^([^!#$%@]+)([!#$%])([^-+]+)/.exec(part);
      if (!m) continue;
      const size = memparseMiB(m[1]!);
      const start = memparseMiB(m[3]!);
      if (size === null || start === null) throw bad`${APPEND} memmap=${part} is not SIZE${m[2]}START: use e.g. memmap=1G${m[2]}10G`;
      out.push({ name: `memmap=${part}`, startMiB: start, endMiB: start + size });
    }
  }
  return out;
}

const overlaps = (a: { startMiB: number; endMiB: number }, b: { startMiB: number; endMiB: number }) => a.startMiB < b.endMiB && b.startMiB < a.endMiB;

/**
 * Judge a topology before anything is downloaded or booted. `cmdline` is the
 * extra kernel command line (its memmap= words are checked against ours).
 */
export function validateTopology(t: Topology, o: { cmdline?: string[] } = {}): void {
  if (!Number.isInteger(t.cpus) || t.cpus < 1 || t.cpus > 8)
    throw bad`${CPUS} ${t.cpus} is out of range: use 1 to 8`;
  if (!Number.isInteger(t.memMiB) || t.memMiB < 512 || t.memMiB > 16384)
    throw bad`${MEM} ${t.memMiB}M is out of range: use 512M to 16G`;
  const nodes = t.numaNodes ?? 1;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 4) throw bad`${NUMA} ${nodes} is out of range: use 1 to 4 nodes`;
  if (nodes > 1 && t.memMiB - (nodes - 1) * 1024 < 1024)
    throw bad`${NUMA} ${nodes} with ${MEM} ${t.memMiB}M leaves node 0 under 1 GiB (each further node takes 1 GiB): raise ${MEM}`;
  if (t.nvdimms.length === 0 && t.memmap.length === 0)
    throw bad`the topology has no pmem: give ${NVDIMMS} 1 or more, or ${MEMMAP} SIZE!START`;
  if (t.nvdimms.length > 8) throw bad`${NVDIMMS} ${t.nvdimms.length} is too many: use at most 8`;
  t.nvdimms.forEach((d: NvdimmSpec, i: number) => {
    const name = `nvdimm ${i}`;
    if (!Number.isInteger(d.sizeMiB) || d.sizeMiB <= 0) throw bad`${name}: size must be a whole number of MiB`;
    if (!Number.isInteger(d.labelSizeMiB) || d.labelSizeMiB < 0 || d.labelSizeMiB > 64)
      throw bad`${name}: label size ${d.labelSizeMiB}M must be 0 (no labels) to 64M`;
    const data = d.sizeMiB - d.labelSizeMiB;
    if (data < 128) throw bad`${name}: ${data} MiB of pmem is too small for an fsdax namespace: use ${NVDIMM_SIZE} 130M or more`;
    if (data % 16 !== 0) {
      const fixed = Math.ceil(data / 16) * 16 + d.labelSizeMiB;
      throw bad`${name}: size ${d.sizeMiB}M minus label ${d.labelSizeMiB}M is not a multiple of 16 MiB (ndctl's region alignment): use ${NVDIMM_SIZE} ${fixed}M`;
    }
    if (d.sizeMiB > 65536) throw bad`${name}: size ${d.sizeMiB}M is over 64G`;
  });
  const ram = ramRanges(t.memMiB);
  const where = ram.map((r) => `${r.startMiB}M-${r.endMiB}M`).join(', ');
  const lowEnd = ram[0]!.endMiB;
  const band: Region = { name: `where QEMU loads the initramfs and the firmware tables (the top ${INITRD_BAND_MIB}M of RAM below 4G)`, startMiB: lowEnd - INITRD_BAND_MIB, endMiB: lowEnd };
  const others: Region[] = [...nvdimmRanges(t), ...cmdlineMemmaps(o.cmdline ?? [])];
  for (const mm of t.memmap) {
    const name = withSettings`${MEMMAP} ${mm.sizeMiB}M!${mm.startMiB}M`;
    if (mm.sizeMiB <= 0 || mm.sizeMiB % 2 !== 0) throw bad`${name}: size must be a positive multiple of 2 MiB`;
    if (mm.startMiB % 128 !== 0) throw bad`${name}: start must be 128 MiB aligned (a memory section)`;
    const r: Region = { name, startMiB: mm.startMiB, endMiB: mm.startMiB + mm.sizeMiB };
    const hit = others.find((x) => overlaps(r, x));
    if (hit) throw bad`${name} overlaps ${hit.name} (${hit.startMiB}M-${hit.endMiB}M): move one of them`;
    if (mm.startMiB < 1024)
      throw bad`${name}: start below 1G would steal the kernel's own memory: start at 1G or above`;
    if (!ram.some((x) => r.startMiB >= x.startMiB && r.endMiB <= x.endMiB))
      throw bad`${name} lies outside guest RAM (${where} with ${MEM} ${t.memMiB}M): raise ${MEM} or move the range`;
    if (overlaps(r, band))
      throw bad`${name} overlaps ${band.name}, ${band.startMiB}M-${band.endMiB}M: end it by ${band.startMiB}M, or raise ${MEM} and put it above 4G`;
    others.push(r);
  }
  const reserved = t.memmap.reduce((a, m) => a + m.sizeMiB, 0);
  if (t.memMiB - reserved < 384)
    throw bad`${MEMMAP} takes ${reserved}M of ${t.memMiB}M guest RAM, leaving too little to boot: raise ${MEM}`;
}

export function topologyHash(t: Topology): string {
  const canon = JSON.stringify({
    nvdimms: t.nvdimms.map((d) => [d.sizeMiB, d.labelSizeMiB]),
    memmap: t.memmap.map((m) => [m.sizeMiB, m.startMiB]),
    memMiB: t.memMiB,
    cpus: t.cpus,
    // Absent for one node, so hashes of older single-node runs still match.
    ...((t.numaNodes ?? 1) > 1 ? { numaNodes: t.numaNodes } : {}),
  });
  return createHash('sha256').update(canon).digest('hex').slice(0, 16);
}

/** Kernel command-line words the topology needs (legacy pmem). */
export function topologyCmdline(t: Topology): string[] {
  return t.memmap.map((m) => `memmap=${m.sizeMiB}M!${m.startMiB}M`);
}
