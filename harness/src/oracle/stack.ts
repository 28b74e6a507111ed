// Structured views of a report's text: frames, registers, and the
// "CPU: … PID: … Comm: …" header that dump_stack() and show_regs() print.
import type { CrashHeader, Frame } from '../results/records.js';
import { FRAME_RE, DECODED_FRAME_RE } from './patterns.js';
import { parseTaintString } from './taint.js';

const SUFFIX_RE = /(?:\.(?:isra|constprop|part|llvm|lto_priv|cold|localalias)(?:\.\d+)?)+$/;

/** Function name without compiler clone suffixes (`.isra.0`, `.constprop.3`, `.part.1`, `.cold`, `.llvm.123`). */
export function normaliseFn(fn: string): string {
  return fn.includes('.') ? fn.replace(SUFFIX_RE, '') : fn;
}

/** Parse one frame line (leading blanks allowed); null when the line is not a frame. */
export function parseFrame(line: string, section = 'stack'): Frame | null {
  const t = line.trimStart();
  let m = FRAME_RE.exec(t);
  if (m) {
    return {
      fn: m[2]!,
      norm: normaliseFn(m[2]!),
      offset: parseInt(m[3]!, 16),
      size: parseInt(m[4]!, 16),
      module: m[5] ?? null,
      reliable: !m[1] && !m[9],
      inline: !!m[8],
      file: m[6] ?? null,
      line: m[7] ? Number(m[7]) : null,
      section,
    };
  }
  m = DECODED_FRAME_RE.exec(t);
  if (m) {
    return {
      fn: m[2]!,
      norm: normaliseFn(m[2]!),
      offset: null,
      size: null,
      module: null,
      reliable: !m[1],
      inline: !!m[5],
      file: m[3]!,
      line: Number(m[4]),
      section,
    };
  }
  return null;
}

// "RIP: 0010:dax_insert_pfn_pmd+0x41c/0x430", old "RIP: 0010:[<ffffffff8100>]  [<ffffffff8100>] fn+0x1/0x2",
// arm64 "pc : fn+0x1/0x2".
const RIP_RE = /^(?:RIP: [0-9a-f]{4}:(?:\[<[0-9a-f]+>\]\s+){0,2}|pc : |PC is at |NIP \[[0-9a-f]+\] |epc : )([A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+\])?)/;

/** The function the CPU was in (RIP/pc line), or null (user-space RIP, no registers). */
const RIP_FIRST = new Set(['R', 'p', 'P', 'N', 'e']);

export function parseRip(lines: readonly string[]): Frame | null {
  for (const l of lines) {
    const t = l.trimStart();
    if (!RIP_FIRST.has(t[0]!)) continue;
    if (!(t.startsWith('RIP: ') || t.startsWith('pc : ') || t.startsWith('PC is at') || t.startsWith('NIP ') || t.startsWith('epc :'))) continue;
    const m = RIP_RE.exec(t);
    if (m) return parseFrame(m[1]!, 'rip');
    // A user-space RIP inside a call trace (the iret frame) is not the crash site.
  }
  return null;
}

// Which printed lines open a new trace section, and what the section is called.
const SECTION_RES: Array<[RegExp, string]> = [
  [/^Call [Tt]race:/, 'stack'],
  [/^stack backtrace:/, 'stack'],
  [/^(?:Allocated by task|page last allocated)/, 'alloc'],
  [/^(?:Freed by task|page last free)/, 'free'],
  [/^(?:Last potentially related|Second to last)/, 'aux'],
  [/^-> #\d+/, 'lockdep'],
  [/^NMI backtrace for cpu/, 'nmi'],
];

// First characters of the section headers below: most lines skip the header tests.
const SECTION_FIRST = new Set(['C', 's', 'A', 'p', 'F', 'L', 'S', '-', 'N']);
// Every frame parseFrame accepts has an offset or a source line in it.
const MAYBE_FRAME_RE = /\+0x|\.[chS]:\d/;

/**
 * All frames in the report, each tagged with the section it came from. Frames
 * before the first section header (e.g. KASAN's "Allocated by" lists or
 * page_owner stacks) get the header's section; stray frames get 'stack'.
 */
export function parseFrames(lines: readonly string[]): Frame[] {
  const out: Frame[] = [];
  let section = 'stack';
  for (const l of lines) {
    const t = l.trimStart();
    if (t.length === 0) continue;
    let hdr = false;
    if (SECTION_FIRST.has(t[0]!)) {
      for (const [re, name] of SECTION_RES) {
        if (re.test(t)) {
          section = name;
          hdr = true;
          break;
        }
      }
    }
    if (hdr || !(t.includes('+0x') || (t.includes(':') && MAYBE_FRAME_RE.test(t)))) continue;
    if (t.startsWith('RIP: ') || t.startsWith('Code: ')) continue;
    // Lockdep prints "#0: ffff (&lock){+.+.}-{3:3}, at: fn+0x1/0x2"; those are lock sites, not frames.
    if (t.includes(', at: ')) continue;
    const f = parseFrame(t, section);
    if (f) out.push(f);
  }
  return out;
}

// x86 register lines hold several "NAME: value" pairs; FS/GS print "FS:  0000(0000) GS:ffff(0000)".
const REG_LINE_RE = /^(?:R[A-Z0-9]{1,2}|E?FLAGS|EFLAGS|FS|CS|CR\d|DR\d|PKRU|ORIG_RAX|RSP|RIP|[xX]\d{1,2}|pc|lr|sp|pstate) ?:/;
const REG_VALUE_RE = /(?:[0-9a-f]{4}:)?[0-9a-f]{4,16}(?:\([0-9a-f]{4}\))?/y;

const isWordChar = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Every "NAME: value" pair of a register line (NAME a word of at most 8, one blank allowed on either side of the colon). */
function registerPairs(t: string, into: Record<string, string>): void {
  for (let c = t.indexOf(':'); c > 0; c = t.indexOf(':', c + 1)) {
    let e = c;
    if (t.charCodeAt(e - 1) === 32) e--;
    let b = e;
    while (b > 0 && isWordChar(t.charCodeAt(b - 1))) b--;
    if (b === e || e - b > 8 || !isLetter(t.charCodeAt(b))) continue;
    REG_VALUE_RE.lastIndex = t.charCodeAt(c + 1) === 32 ? c + 2 : c + 1;
    const v = REG_VALUE_RE.exec(t);
    if (!v) continue;
    const name = t.slice(b, e);
    if (into[name] === undefined) into[name] = v[0];
    c = REG_VALUE_RE.lastIndex - 1;
  }
}

export function parseRegisters(lines: readonly string[]): Record<string, string> {
  const regs: Record<string, string> = {};
  for (const l of lines) {
    const t = l.trimStart();
    if (t.startsWith('Call Trace') || t.startsWith('---[ end')) {
      if (Object.keys(regs).length > 0) break;
      continue;
    }
    // A register line has "NAME:" within its first few characters.
    const colon = t.indexOf(':');
    if (colon < 1 || colon > 8 || !REG_LINE_RE.test(t)) continue;
    if (t.startsWith('RIP: ')) {
      const m = /^RIP: ([0-9a-f]{4}):(.*)$/.exec(t);
      if (m && regs.RIP === undefined) regs.RIP = `${m[1]}:${m[2]!.trim()}`;
      continue;
    }
    registerPairs(t, regs);
  }
  return regs;
}

// dump_stack()/show_regs() header. Since 6.10 "UID:" sits between CPU and PID.
export const CPU_HDR_RE = /^CPU: (\d+) (?:UID: (\d+) )?PID: (\d+) Comm: (.*?) (Not tainted|Tainted: [A-Z ]*?[A-Z])\s+(\d\S*)(.*)$/;
// New-style WARNING line: "WARNING: fs/dax.c:12 at fn+0x1/0x2, CPU#1: comm/123"
const CPU_HASH_RE = /, CPU#(\d+): (.*)\/(\d+)$/;
// Old-style WARNING line: "WARNING: CPU: 1 PID: 123 at ..."
const OLD_WARN_CPU_RE = /^WARNING: CPU: (\d+) PID: (\d+) at /;
// "INFO: task kworker/0:1:123 blocked for more than 120 seconds." (a comm may hold colons).
const HUNG_TASK_RE = /^INFO: task (.+):(\d+) (?:blocked|can't die)/;
// Hung task / lockdep identity line: "      Not tainted 6.1.0 #1" / "6.1.0 #1 Tainted: G W"
const KIDENT_RE = /^(?:(Not tainted|Tainted: [A-Z ]*?[A-Z])\s+(\d+\.\d+\S*)|(\d+\.\d+\S*) .*?(Not tainted|Tainted: [A-Z ]*?[A-Z])\s*$)/;

export function parseHeader(lines: readonly string[]): CrashHeader {
  const h: CrashHeader = { cpu: null, pid: null, uid: null, comm: null, tainted: null, kernelVersion: null, hardware: null };
  let sawCpuLine = false;
  for (const l of lines) {
    const t = l.trimStart();
    if (!sawCpuLine && t.startsWith('CPU: ')) {
      const m = CPU_HDR_RE.exec(t);
      if (m) {
        sawCpuLine = true;
        h.cpu = Number(m[1]);
        h.uid = m[2] !== undefined ? Number(m[2]) : null;
        h.pid = Number(m[3]);
        h.comm = m[4]!;
        h.tainted = parseTaintString(m[5]!);
        h.kernelVersion = m[6]!;
        continue;
      }
    }
    if (h.hardware === null && t.startsWith('Hardware name: ')) {
      h.hardware = t.slice('Hardware name: '.length).trim();
      continue;
    }
    if (h.comm === null && t.startsWith('INFO: task ')) {
      // A hung task's report names the task; no CPU prints it.
      const m = HUNG_TASK_RE.exec(t);
      if (m) {
        h.comm = m[1]!;
        h.pid = Number(m[2]);
      }
      continue;
    }
    if (t.startsWith('WARNING: ')) {
      let m = CPU_HASH_RE.exec(t);
      if (m && h.cpu === null) {
        h.cpu = Number(m[1]);
        h.comm = m[2]!;
        h.pid = Number(m[3]);
      }
      m = OLD_WARN_CPU_RE.exec(t);
      if (m && h.cpu === null) {
        h.cpu = Number(m[1]);
        h.pid = Number(m[2]);
      }
      continue;
    }
    if (h.kernelVersion === null) {
      const m = KIDENT_RE.exec(t);
      if (m) {
        h.kernelVersion = m[2] ?? m[3] ?? null;
        if (h.tainted === null) h.tainted = parseTaintString(m[1] ?? m[4]!);
      }
    }
  }
  return h;
}
