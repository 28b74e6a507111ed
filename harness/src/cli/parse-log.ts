// dax-harness parse-log: find kernel reports in a console log or a pasted crash mail.
import { open, access, constants } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { CrashReport } from '../results/records.js';
import { symbolizeReport } from '../oracle/index.js';
import { reportsFromStream } from '../workflows/repro/report.ts';
import { forTerminal, lineForTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { usageError } from './exit.ts';

export const PARSE_LOG_HELP = `usage: dax-harness parse-log [--json] [--vmlinux PATH [--system-map PATH]] [FILE | -]

Find the kernel crash reports (BUG, WARNING, Oops, KASAN, lockdep, hung task,
RCU stall, bad page state, refcount_t, panic, ...) in a console log, a dmesg or
journalctl dump, or a pasted crash e-mail, and print each one with its title,
type, whether it is fatal, the page dump (if any), header fields and stack.

FILE is read as a stream, so multi-gigabyte logs are fine. With no FILE, or
with -, standard input is read.

Accepted input: serial captures (CRLF, ANSI colour), printk timestamps with or
without caller ids, dmesg -T/-x, journalctl -k, /dev/kmsg records, syslog <N>
and "host kernel:" prefixes; crash mails: pasted indented, quoted ("> ", ">>",
"> >"), wrapped at 72-80 columns, lines joined, MIME (quoted-printable, base64,
attachments); lore.kernel.org mbox threads (each crash names its message);
syzbot reports.

options:
  --json             print a JSON array of reports (the CrashReport records) instead of text
  --vmlinux PATH     symbolize stack frames (file:line, inlined callees) against this
                     vmlinux with debug info: the kernel that printed the log
  --system-map PATH  its System.map (default: read the symbols from the vmlinux)
  -h, --help         show this help`;

export const PARSE_LOG_SPEC = defineCommand({
  name: 'parse-log',
  options: {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    vmlinux: { type: 'string' },
    'system-map': { type: 'string' },
  },
  positionals: true,
  manual: PARSE_LOG_HELP,
  examples: [
    ['dax-harness parse-log results/RUN/console.log', "the crashes of a run's console"],
    ['dax-harness parse-log --json crash.mbox | jq .[0].dedupKey', 'the match key of a mailed crash (bisect --match)'],
    ['dmesg | dax-harness parse-log', "this machine's kernel log"],
    ['dax-harness parse-log --vmlinux vmlinux console.log', 'stack frames with file:line'],
  ],
  exit: { 0: 'no kernel report found', 1: 'at least one kernel report found' },
});


export async function parseLogCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(PARSE_LOG_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 1) {
    return usageError('parse-log', `one FILE at most, got ${positionals.length} (see dax-harness parse-log --help)`);
  }
  if (values['system-map'] && !values.vmlinux) {
    return usageError('parse-log', `--system-map goes with --vmlinux (see dax-harness parse-log --help)`);
  }
  for (const opt of ['vmlinux', 'system-map'] as const) {
    const p = values[opt];
    if (!p) continue;
    try {
      await access(p, constants.R_OK);
    } catch (e) {
      return usageError('parse-log', `cannot read --${opt} ${p}: ${reason(e)}`);
    }
  }
  const file = positionals[0] ?? '-';
  let input: Readable;
  if (file === '-') input = process.stdin;
  else {
    try {
      const fh = await open(file, 'r');
      const st = await fh.stat();
      if (st.isDirectory()) {
        await fh.close();
        return usageError('parse-log', `cannot read ${file}: is a directory`);
      }
      // The stream owns the FileHandle (a bare fd would be closed twice: by the
      // stream and by the handle's garbage collection).
      input = fh.createReadStream({ autoClose: true, highWaterMark: 1 << 20 });
    } catch (e) {
      return usageError('parse-log', `cannot read ${file}: ${reason(e)}`);
    }
  }
  let reports: CrashReport[];
  try {
    reports = await reportsFromStream(input);
  } catch (e) {
    return usageError('parse-log', `cannot read ${file}: ${lineForTerminal(reason(e))}`);
  }
  if (values.vmlinux) {
    // Loaded only here: it brings the process runner, which a plain parse-log does not need at start-up.
    const { Addr2lineSymbolizer } = await import('../kernel/index.ts');
    const sym = new Addr2lineSymbolizer({ vmlinux: values.vmlinux, systemMap: values['system-map'] ?? null });
    reports = await Promise.all(reports.map((r) => symbolizeReport(r, sym)));
  }
  if (values.json) process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
  else process.stdout.write(forTerminal(formatReports(reports)));
  return reports.length > 0 ? 1 : 0;
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const map: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ELOOP: 'too many symbolic links',
    ENOTDIR: 'a path component is not a directory',
  };
  return (err.code && map[err.code]) ?? String(err.message ?? e).split('\n')[0]!;
}

/** Text rendering of reports for people. */
export function formatReports(reports: readonly CrashReport[]): string {
  if (reports.length === 0) return 'no kernel reports found\n';
  const out: string[] = [];
  reports.forEach((r, i) => {
    out.push(`[${i + 1}] ${r.title}`);
    const src = r.source as { message: number; subject: string | null; from: string | null; depth: number } | undefined;
    // A decoded subject can hold a newline (an encoded word): kept on its line.
    if (src) out.push(`    from message ${src.message + 1}${src.subject ? `: ${lineForTerminal(src.subject)}` : ''}${src.from ? ` (${lineForTerminal(src.from)})` : ''}${src.depth > 0 ? `, quoted ${src.depth} deep` : ''}`);
    out.push(`    type: ${r.type}${r.fatal ? ' (fatal)' : ''}   lines ${r.startLine + 1}-${r.endLine + 1}${r.complete === false ? '   (report cut short)' : ''}${r.corrupted ? '   (corrupted: interleaved or cut short, title may be off)' : ''}`);
    if (r.altTitles?.length) out.push(`    also titled: ${r.altTitles.join('  |  ')}`);
    if (r.file) out.push(`    at: ${r.file}${r.sourceLine ? `:${r.sourceLine}` : ''}`);
    if (r.reason) out.push(`    reason: ${r.reason}`);
    const h = r.header;
    if (h && (h.cpu !== null || h.kernelVersion !== null)) {
      const parts = [
        h.cpu !== null ? `CPU ${h.cpu}` : '',
        h.pid !== null ? `PID ${h.pid}` : '',
        h.comm ? `Comm ${h.comm}` : '',
        h.kernelVersion ? `kernel ${h.kernelVersion}` : '',
        h.tainted ? (h.tainted.letters ? `tainted ${h.tainted.letters} (${h.tainted.names.join(', ')})` : 'not tainted') : '',
      ].filter(Boolean);
      out.push(`    ${parts.join('  ')}`);
    }
    if (h?.hardware) out.push(`    hardware: ${h.hardware}`);
    const d = r.pageDump;
    if (d) {
      const f = (k: string, v: unknown) => (v === null || v === undefined ? '' : `${k}:${String(v)}`);
      const kv = [
        f('refcount', d.refcount),
        f('mapcount', d.mapcount),
        f('order', d.order),
        f('entire_mapcount', d.entireMapcount),
        f('nr_pages_mapped', d.nrPagesMapped),
        f('pincount', d.pincount),
        f('index', d.index),
        f('pfn', d.pfn),
        f('aops', d.aops),
        f('ino', d.ino),
        d.dentry !== null ? `dentry:"${d.dentry}"` : '',
      ].filter(Boolean);
      out.push(`    page dump (${d.format}): ${kv.join(' ')}`);
      if (d.flags.length) out.push(`    page flags: ${d.flags.join('|')}${d.zone !== null ? ` zone=${d.zone}` : ''}${d.pageType ? `  page_type: ${d.pageType}` : ''}`);
      if (d.reason) out.push(`    page dumped because: ${d.reason}${d.assertion && d.assertion !== d.reason ? `  => ${d.assertion}` : ''}`);
    }
    const frames = (r.frames ?? []).filter((fr) => fr.reliable).slice(0, 8);
    if (r.rip) out.push(`    RIP: ${r.rip.fn}+0x${(r.rip.offset ?? 0).toString(16)}`);
    if (frames.length) {
      out.push('    stack:');
      for (const fr of frames) out.push(`      ${fr.fn}${fr.module ? ` [${fr.module}]` : ''}${fr.file ? `  ${fr.file}:${fr.line}` : ''}`);
    }
    out.push(`    dedup key: ${r.dedupKey}`);
    out.push('');
  });
  return out.join('\n');
}
