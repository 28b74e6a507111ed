// The kernel's taint mask, both as /proc/sys/kernel/tainted prints it (an
// integer) and as reports print it ("Tainted: G        W  OE"). A test that
// turns on W, D or B failed even if the log line that explains it was lost.
import type { TaintInfo } from '../results/records.js';

interface TaintFlag {
  bit: number;
  letter: string;
  name: string;
}

// Order and letters follow taint_flags[] in kernel/panic.c; bit 0 prints 'P' when
// set and 'G' when clear, which is why 'G' is not a bit of its own.
export const TAINT_FLAGS: readonly TaintFlag[] = [
  { bit: 0, letter: 'P', name: 'PROPRIETARY_MODULE' },
  { bit: 1, letter: 'F', name: 'FORCED_MODULE' },
  { bit: 2, letter: 'S', name: 'CPU_OUT_OF_SPEC' },
  { bit: 3, letter: 'R', name: 'FORCED_RMMOD' },
  { bit: 4, letter: 'M', name: 'MACHINE_CHECK' },
  { bit: 5, letter: 'B', name: 'BAD_PAGE' },
  { bit: 6, letter: 'U', name: 'USER' },
  { bit: 7, letter: 'D', name: 'DIE' },
  { bit: 8, letter: 'A', name: 'OVERRIDDEN_ACPI_TABLE' },
  { bit: 9, letter: 'W', name: 'WARN' },
  { bit: 10, letter: 'C', name: 'CRAP' },
  { bit: 11, letter: 'I', name: 'FIRMWARE_WORKAROUND' },
  { bit: 12, letter: 'O', name: 'OOT_MODULE' },
  { bit: 13, letter: 'E', name: 'UNSIGNED_MODULE' },
  { bit: 14, letter: 'L', name: 'SOFTLOCKUP' },
  { bit: 15, letter: 'K', name: 'LIVEPATCH' },
  { bit: 16, letter: 'X', name: 'AUX' },
  { bit: 17, letter: 'T', name: 'RANDSTRUCT' },
  { bit: 18, letter: 'N', name: 'TEST' },
  { bit: 19, letter: 'J', name: 'FWCTL' },
];

const BY_LETTER = new Map(TAINT_FLAGS.map((f) => [f.letter, f]));

/** Bits that mean "something went wrong in the kernel" when they appear during a test. */
export const FAILING_TAINT_LETTERS: readonly string[] = ['B', 'D', 'W', 'L', 'M'];

/** Decode a /proc/sys/kernel/tainted value (number or its text). */
export function decodeTaint(value: number | string): TaintInfo {
  const v = typeof value === 'string' ? Number(value.trim()) : value;
  if (!Number.isFinite(v) || v < 0) return { value: null, letters: '', names: [] };
  let letters = '';
  const names: string[] = [];
  for (const f of TAINT_FLAGS) {
    // Bits above 30 do not fit JS bitwise ops; use division.
    if (Math.floor(v / 2 ** f.bit) % 2 === 1) {
      letters += f.letter;
      names.push(f.name);
    }
  }
  return { value: v, letters, names };
}

/** Decode "Tainted: G        W  OE" / "Not tainted" / bare letters. Unknown letters are kept but unnamed. */
export function parseTaintString(s: string): TaintInfo {
  const t = s.trim();
  if (/^Not tainted/i.test(t)) return { value: 0, letters: '', names: [] };
  const body = t.replace(/^Tainted:\s*/, '');
  let value = 0;
  let known = true;
  let letters = '';
  const names: string[] = [];
  for (const ch of body) {
    if (ch === ' ' || ch === 'G') continue;
    const f = BY_LETTER.get(ch);
    letters += ch;
    if (f) {
      value += 2 ** f.bit;
      names.push(f.name);
    } else known = false;
  }
  return { value: known ? value : null, letters, names };
}

/** Encode letters back to the integer /proc/sys/kernel/tainted would show. */
export function taintValue(letters: string): number {
  let v = 0;
  for (const ch of letters) {
    const f = BY_LETTER.get(ch);
    if (f) v += 2 ** f.bit;
  }
  return v;
}

/**
 * Which failing bits (W, D, B, L, M) are set in `after` but not in `before`.
 * An empty `letters` means the test did not taint the kernel in a way that fails it.
 */
export function newFailingTaint(before: number | string, after: number | string): TaintInfo {
  const b = decodeTaint(before);
  const a = decodeTaint(after);
  const fresh = [...a.letters].filter((l) => !b.letters.includes(l) && FAILING_TAINT_LETTERS.includes(l));
  const letters = fresh.join('');
  const names = fresh.map((l) => BY_LETTER.get(l)!.name);
  return { value: taintValue(letters), letters, names };
}
