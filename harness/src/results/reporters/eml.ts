// report.eml: the mail a person sends to the author of the commit (or patch)
// a bisection named, in the form kernel developers know from the bots that
// already write to them: the crash title, the culprit and its subject, the
// crash itself, how often it reproduces with and without the culprit, the
// exact command that reproduces it, and the tags to paste into the fix.
// The harness writes the file; sending it (git send-email, b4, a mail
// client) is left to the person. Pure: everything comes in as arguments.
//
// Threading. A culprit that is a mailed patch with a Message-Id is still
// under review: the report replies to it (Subject "Re: <its subject>",
// In-Reply-To and References), so it lands in the thread its author and
// reviewers read and that lore and b4 keep together. A commit from a git
// range has been merged somewhere; its review thread is over, so the report
// starts a thread of its own, "[dax-harness] TITLE", searchable by the crash
// title as people search for other bots' reports, and gives the commit's
// Link: in the body.
//
// Lines end in LF, as in the files git format-patch writes and git
// send-email and b4 read; they put CRLF on the wire.
import { addressHeader, idHeader, mailDate, messageIdOf, oneLine, parseAddress, textHeader, type MailAddress } from '../../host/mail-header.ts';
import { forTerminal, shellQuote } from '../../host/terminal.ts';
import type { BisectRecord, BisectVerification, BisectVerifiedBy, CrashReport } from '../records.ts';
import { stackLines } from './stack.ts';

export interface ReportRate {
  /** Runs that showed the crash. */
  hits: number;
  runs: number;
}

export interface ReportMailInput {
  /** The report's id: the Message-ID (and so the Closes: link) derive from it. */
  id: string;
  /** Who sends the mail ("Name <addr>"): the person running the harness. */
  from: string;
  date: Date;
  /** Right-hand side of the Message-ID; the sender's domain when absent. */
  domain?: string;
  crash: Pick<CrashReport, 'title' | 'lines'> & Partial<Pick<CrashReport, 'frames' | 'headline' | 'reason'>>;
  culprit: {
    /** Full sha of a commit, or null for a patch of a mailed series. */
    commit: string | null;
    /** The commit title (the patch's subject without its [PATCH] tag). */
    subject: string;
    /** "Name <addr>" as git or the mail says it. */
    author: string;
    /** The patch mail's Message-Id: the report replies to it. */
    messageId?: string | null;
    /** The patch mail's Subject as sent ("[PATCH v2 2/3] ..."), for the reply's subject. */
    mailSubject?: string | null;
    /** The thread above the patch (the cover letter's id first), for References. */
    references?: string[];
    /** Where the patch or commit can be read (lore link, Link: trailer). */
    link?: string | null;
  };
  /** Maintainers and lists of the files the culprit touches (get_maintainer.pl), as "Name <addr>" or bare addresses. */
  maintainers: string[];
  /** Runs with the culprit's parent and with the culprit. */
  rates: { before: ReportRate | null; after: ReportRate | null };
  /** The dax-harness command (argv) that reproduces the crash on the culprit. */
  command: string[];
  /** What the crash ran on, label → value, in the order given (kernel tree and ref, config, cell, test). */
  config: [string, string][];
  /** The bisection that named the culprit: its confidence, cost and verification go in the mail. */
  bisect?: Pick<BisectRecord, 'id' | 'status' | 'confidence' | 'used' | 'verification'> | null;
  /** The Reported-by: value to paste ("Name <addr>"). */
  reportedBy: string;
  /** The Closes: link; default: the lore link this mail will have (lore.kernel.org/r/<its Message-ID>). */
  closes?: string | null;
}

export interface ReportMail {
  eml: string;
  messageId: string;
  subject: string;
  to: MailAddress[];
  cc: MailAddress[];
  /** What was left out and why (an author without a valid address, a malformed Message-Id). */
  notes: string[];
}

/** Lines of the crash's own text put in the mail: enough for the report, not the whole console. */
export const EXCERPT_LINES = 80;
const STACK_FRAMES = 40;
/** RFC 5322's hard limit is 998 octets a line; a longer console line is cut into pieces below it. */
const BODY_LINE_BYTES = 900;

const pct = (r: ReportRate) => (r.runs ? ` (${Math.round((100 * r.hits) / r.runs)}%)` : '');
const rateText = (r: ReportRate | null) => (r ? `${r.hits} of ${r.runs} runs${pct(r)}` : 'not measured');

/** A body line a mail carries: no controls or escapes, at most BODY_LINE_BYTES bytes (longer ones continue on the next line). */
function bodyLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of forTerminal(text).replace(/\t/g, '    ').split('\n')) {
    let line = raw.replace(/\s+$/, '');
    while (Buffer.byteLength(line) > BODY_LINE_BYTES) {
      let cut = BODY_LINE_BYTES;
      while (Buffer.byteLength(line.slice(0, cut)) > BODY_LINE_BYTES) cut--;
      out.push(line.slice(0, cut));
      line = line.slice(cut);
    }
    out.push(line);
  }
  return out;
}

/** The crash as it goes in the mail: its title, then its lines (console timestamps off), then the symbolized stack when there is one. */
export function crashExcerpt(crash: ReportMailInput['crash']): string[] {
  const lines = crash.lines.map((l) => l.replace(/^\s*\[\s*\d+\.\d+\]\s?/, '').replace(/^<\d>/, ''));
  const out = lines.slice(0, EXCERPT_LINES);
  if (lines.length > EXCERPT_LINES) out.push(`[... ${lines.length - EXCERPT_LINES} more lines in the run's console.log]`);
  const frames = crash.frames ?? [];
  // Only worth a block of its own when the symbolizer added places the console did not print.
  if (frames.some((f) => f.file && f.line)) {
    const stack = stackLines(frames);
    out.push('', 'Symbolized stack:', ...stack.slice(0, STACK_FRAMES).map((s) => `  ${s.replace(/\n/g, '\n  ')}`));
    if (stack.length > STACK_FRAMES) out.push(`  [... ${stack.length - STACK_FRAMES} more frames]`);
  }
  return out;
}

/** Culprit author and maintainers as To and Cc: valid addresses only, each once, the author never in Cc too. */
function recipients(input: ReportMailInput, notes: string[]): { to: MailAddress[]; cc: MailAddress[] } {
  const author = parseAddress(oneLine(input.culprit.author));
  if (!author) notes.push(`the culprit's author "${oneLine(input.culprit.author).slice(0, 80)}" has no valid mail address: it is not in To`);
  const seen = new Set(author ? [author.address.toLowerCase()] : []);
  const cc: MailAddress[] = [];
  for (const m of input.maintainers) {
    const a = parseAddress(oneLine(m));
    if (!a) {
      notes.push(`maintainer entry "${oneLine(m).slice(0, 80)}" is not a mail address: left out`);
      continue;
    }
    if (seen.has(a.address.toLowerCase())) continue;
    seen.add(a.address.toLowerCase());
    cc.push(a);
  }
  // Nobody to send it to but the maintainers: they become the addressees.
  return author ? { to: [author], cc } : { to: cc, cc: [] };
}

/** The report's subject and, when it answers a patch mail, that mail's thread. */
function threading(input: ReportMailInput, notes: string[]): { subject: string; inReplyTo: string | null; references: string[] } {
  const title = oneLine(input.crash.title) || 'crash';
  const given = input.culprit.messageId;
  const parent = messageIdOf(given);
  if (given && !parent) notes.push(`the patch's Message-Id "${oneLine(given).slice(0, 80)}" is malformed: the report starts a thread of its own`);
  if (input.culprit.commit || !parent) return { subject: `[dax-harness] ${title}`, inReplyTo: null, references: [] };
  const refs = (input.culprit.references ?? []).map((r) => messageIdOf(r)).filter((r): r is string => r !== null && r !== parent);
  const subject = oneLine(input.culprit.mailSubject || input.culprit.subject).replace(/^(re:\s*)+/i, '');
  return { subject: `Re: ${subject}`, inReplyTo: parent, references: [...new Set(refs), parent] };
}

/** `Fixes:`' form of a commit: 12 hex digits and its title in ("..."). */
const commitRef = (sha: string, subject: string) => `${sha.slice(0, 12)} ("${oneLine(subject)}")`;

/** What the chain's check that verified the culprit showed, in the mail's words. */
const BY_TEXT: Record<BisectVerifiedBy, string> = {
  'leave-out': 'the rest without it does not',
  revert: 'reverting it on top of the bad end makes it go away',
  isolation: 'its parent stays clean over twice the runs',
};

/** One line: which checks passed; when none of the chain could be made, which and why not. */
export function verifiedText(v: BisectVerification): string {
  const ok = [...(v.culprit.ok ? ['the culprit shows it'] : []), ...(v.parent.ok ? ['its parent does not'] : [])];
  // Records written before the chain name no check: their leave-out is the one.
  const by = v.by === undefined ? (v.leaveOut.ok ? 'leave-out' : null) : v.by;
  if (by) ok.push(BY_TEXT[by]);
  const none = by === null && v.attempts?.length ? `; no check could verify it (${v.attempts.map((a) => `${a.check}: ${a.verdict}`).join(', ')})` : '';
  return (ok.length ? ok.join(', ') : 'no check could be made') + none;
}

export function buildReportMail(input: ReportMailInput): ReportMail {
  const notes: string[] = [];
  const from = parseAddress(oneLine(input.from));
  if (!from) throw new Error(`the sender "${oneLine(input.from).slice(0, 80)}" is not a mail address: give "Name <you@example.org>"`);
  const domain = input.domain ?? from.address.slice(from.address.lastIndexOf('@') + 1);
  const messageId = messageIdOf(`dax-harness.${input.id}@${domain}`);
  if (!messageId) throw new Error(`report id "${oneLine(input.id).slice(0, 80)}" and domain "${oneLine(domain).slice(0, 80)}" do not make a Message-ID: use letters, digits, . _ -`);
  const { to, cc } = recipients(input, notes);
  const t = threading(input, notes);
  const closes = input.closes === undefined ? `https://lore.kernel.org/r/${messageId.slice(1, -1)}` : input.closes ? oneLine(input.closes) : null;
  const reportedBy = parseAddress(oneLine(input.reportedBy));
  if (!reportedBy) throw new Error(`Reported-by "${oneLine(input.reportedBy).slice(0, 80)}" is not a mail address: give "Name <addr>"`);

  const headers = [
    addressHeader('From', [from]),
    ...(to.length ? [addressHeader('To', to)] : []),
    ...(cc.length ? [addressHeader('Cc', cc)] : []),
    textHeader('Subject', t.subject),
    `Date: ${mailDate(input.date)}`,
    idHeader('Message-ID', [messageId]),
    ...(t.inReplyTo ? [idHeader('In-Reply-To', [t.inReplyTo]), idHeader('References', t.references)] : []),
    'MIME-Version: 1.0',
  ];

  const c = input.culprit;
  const title = oneLine(input.crash.title) || 'crash';
  const field = (label: string, value: string) => `${`${label}:`.padEnd(12)}${value}`;
  const body: string[] = [
    'Hello,',
    '',
    `a dax-harness run found a crash that it did not see before ${c.commit ? 'this commit' : 'this patch'}, and a`,
    `bisection named ${c.commit ? 'the commit' : 'the patch'} as its cause:`,
    '',
    field('title', title),
    c.commit ? field('commit', commitRef(c.commit, c.subject)) : field('patch', oneLine(c.mailSubject || c.subject)),
    field('author', oneLine(c.author)),
    ...(c.link ? [field('link', oneLine(c.link))] : []),
    ...input.config.map(([k, v]) => field(oneLine(k), oneLine(v))),
  ];
  const b = input.bisect;
  if (b) {
    body.push(field('bisection', `${oneLine(b.id)}: ${b.status}, confidence ${b.confidence.toFixed(3)} (${b.used.builds} builds, ${b.used.boots} boots, ${b.used.runs} runs)`));
    const v = b.verification;
    if (v) body.push(field('verified', verifiedText(v)));
  }
  body.push(
    '',
    'How often the crash showed:',
    `  without it (parent): ${rateText(input.rates.before)}`,
    `  with it:             ${rateText(input.rates.after)}`,
    '',
    'To reproduce it with dax-harness (it builds the kernel, boots it in a QEMU',
    'guest with emulated NVDIMMs and runs the test):',
    '',
    `  ${shellQuote(input.command.map(oneLine))}`,
    '',
    'The crash:',
    '',
    ...crashExcerpt(input.crash).map((l) => (l ? `  ${l}` : '')),
    '',
    `If you fix it, please add ${c.commit ? 'these tags' : 'these tags (none for a new version of this same patch)'} to the fix:`,
    '',
    `Reported-by: ${oneLine(input.reportedBy)}`,
    ...(closes ? [`Closes: ${closes}`] : []),
    ...(c.commit ? [`Fixes: ${commitRef(c.commit, c.subject)}`] : []),
    '',
  );
  const text = bodyLines(body.join('\n')).join('\n');
  const ascii = !/[^\x00-\x7f]/.test(text);
  headers.push(`Content-Type: text/plain; charset=${ascii ? 'us-ascii' : 'utf-8'}`, `Content-Transfer-Encoding: ${ascii ? '7bit' : '8bit'}`);
  return { eml: `${headers.join('\n')}\n\n${text}`, messageId, subject: t.subject, to, cc, notes };
}

/**
 * Before and after rates from a bisection: the culprit's parent step and the
 * culprit's step (runs that matched the bug over runs made), else the bad
 * end's measured rate for "after".
 */
export function ratesFromBisect(r: Pick<BisectRecord, 'culprit' | 'steps' | 'rate'>): { before: ReportRate | null; after: ReportRate | null } {
  const n = r.culprit?.number;
  const step = (k: number) => r.steps.find((s) => s.step === `p${k}` && s.build?.ok && s.runs > 0);
  const of = (s: { matching: number; runs: number } | undefined) => (s ? { hits: s.matching, runs: s.runs } : null);
  const after = n ? of(step(n)) : null;
  return { before: n ? of(step(n - 1)) : null, after: after ?? (r.rate.trials ? { hits: r.rate.hits, runs: r.rate.trials } : null) };
}
