// Symbolizes printed stack frames (fn+off/size) against the vmlinux of the
// kernel that ran, with addr2line: System.map (or nm) gives each function's
// start, addr2line -i gives file:line plus the chain of inlined callees.
// It satisfies the oracle's Symbolizer interface structurally, so the oracle
// stays free of process handling.
import { readFile } from 'node:fs/promises';
import type { Frame } from '../results/records.js';
import { run } from '../host/proc.js';

export interface Addr2lineOptions {
  vmlinux: string;
  /** System.map of the same build; when absent, `nm -n vmlinux` is used. */
  systemMap?: string | null;
  /** Module name -> path of its .ko with debug info, for `[module]` frames. */
  modules?: Record<string, string>;
  timeoutMs?: number;
  /** addr2line binary (e.g. llvm-addr2line). */
  addr2line?: string;
}

interface Sym {
  addr: bigint;
  size: bigint | null;
}

type SymTable = Map<string, Sym[]>;

// Top-level directories of a kernel tree: everything before them is a build path.
const TREE_DIR_RE = /(?:^|\/)((?:arch|block|certs|crypto|drivers|fs|include|init|io_uring|ipc|kernel|lib|mm|net|rust|samples|scripts|security|sound|tools|usr|virt)\/.*)$/;

export function stripBuildPath(file: string): string {
  const m = TREE_DIR_RE.exec(file);
  return m ? m[1]! : file.replace(/^\.\//, '');
}

/** Parse System.map / `nm -n` text into name -> candidate starts, with sizes from the next symbol. */
export function parseSystemMap(text: string): SymTable {
  const rows: Array<{ name: string; addr: bigint; text: boolean }> = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{8,16}) ([A-Za-z]) (\S+)/.exec(line);
    if (!m) continue;
    rows.push({ name: m[3]!, addr: BigInt(`0x${m[1]}`), text: m[2] === 't' || m[2] === 'T' || m[2] === 'W' || m[2] === 'w' });
  }
  rows.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const table: SymTable = new Map();
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (!r.text) continue;
    let j = i + 1;
    while (j < rows.length && rows[j]!.addr === r.addr) j++;
    const size = j < rows.length ? rows[j]!.addr - r.addr : null;
    const list = table.get(r.name) ?? [];
    list.push({ addr: r.addr, size });
    table.set(r.name, list);
  }
  return table;
}

interface Located {
  fn: string;
  file: string | null;
  line: number | null;
}

/** Parse `addr2line -a -f -i` output: groups start with the echoed 0x address. */
export function parseAddr2line(out: string): Located[][] {
  const groups: Located[][] = [];
  const lines = out.split('\n');
  let cur: Located[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '') continue;
    if (/^0x[0-9a-f]+$/i.test(l)) {
      cur = [];
      groups.push(cur);
      continue;
    }
    if (!cur) continue;
    const loc = (lines[++i] ?? '').trim();
    const m = /^(.*?):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(loc);
    const file = m && m[1] !== '??' ? stripBuildPath(m[1]!) : null;
    const line = m && m[2] !== '?' && m[2] !== '0' ? Number(m[2]) : null;
    cur.push({ fn: l, file, line });
  }
  return groups;
}

export class Addr2lineSymbolizer {
  private vmlinuxSyms: Promise<SymTable> | null = null;
  private readonly moduleSyms = new Map<string, Promise<SymTable>>();

  constructor(private readonly opts: Addr2lineOptions) {}

  async symbolize(frames: Frame[]): Promise<Frame[]> {
    const out = frames.map((f) => ({ ...f }));
    // One addr2line run per object file keeps the DWARF load (seconds for vmlinux) to one.
    const byObject = new Map<string, Array<{ idx: number; addr: bigint }>>();
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.offset === null) continue;
      const object = f.module ? this.opts.modules?.[f.module] : this.opts.vmlinux;
      if (!object) continue;
      const syms = await (f.module ? this.modTable(f.module, object) : this.kernelTable());
      const start = pick(syms.get(f.fn), f.size);
      if (start === null) continue;
      // A return address points after the call; step back into the call instruction.
      const off = f.section === 'rip' || f.offset === 0 ? f.offset : f.offset - 1;
      const list = byObject.get(object) ?? [];
      list.push({ idx: i, addr: start + BigInt(off) });
      byObject.set(object, list);
    }
    for (const [object, items] of byObject) {
      // A .ko is relocatable: nm values are offsets into .text, which -j makes addr2line use.
      const section = object === this.opts.vmlinux ? [] : ['-j', '.text'];
      const r = await run(this.opts.addr2line ?? 'addr2line', ['-a', '-f', '-i', ...section, '-e', object, ...items.map((x) => `0x${x.addr.toString(16)}`)], {
        timeoutMs: this.opts.timeoutMs ?? 60_000,
        reject: false,
      });
      if (r.failed) continue;
      const groups = parseAddr2line(r.stdout);
      items.forEach((it, k) => {
        const g = groups[k];
        if (!g || g.length === 0) return;
        const outer = g[g.length - 1]!;
        const f = out[it.idx]!;
        f.file = outer.file;
        f.line = outer.line;
        if (g.length > 1) {
          f.inlined = g.slice(0, -1).map((x) => ({
            fn: x.fn,
            norm: x.fn,
            offset: null,
            size: null,
            module: f.module,
            reliable: f.reliable,
            inline: true,
            file: x.file,
            line: x.line,
            section: f.section,
          }));
        }
      });
    }
    return out;
  }

  private kernelTable(): Promise<SymTable> {
    this.vmlinuxSyms ??= this.loadTable(this.opts.systemMap ?? null, this.opts.vmlinux);
    return this.vmlinuxSyms;
  }

  private modTable(name: string, ko: string): Promise<SymTable> {
    let p = this.moduleSyms.get(name);
    if (!p) {
      p = this.loadTable(null, ko);
      this.moduleSyms.set(name, p);
    }
    return p;
  }

  private async loadTable(map: string | null, object: string): Promise<SymTable> {
    if (map) return parseSystemMap(await readFile(map, 'utf8'));
    const r = await run('nm', ['-n', object], { timeoutMs: this.opts.timeoutMs ?? 60_000, reject: false });
    return parseSystemMap(r.stdout);
  }
}

// Several static functions can share a name; the printed size tells them apart.
function pick(cands: Sym[] | undefined, size: number | null): bigint | null {
  if (!cands || cands.length === 0) return null;
  if (cands.length === 1 || size === null) return cands[0]!.addr;
  const exact = cands.find((c) => c.size === BigInt(size));
  return (exact ?? cands[0]!).addr;
}
