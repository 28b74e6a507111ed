// Patch series: an mbox, a directory of .patch files, or a git range, turned
// into the ordered list of patches a maintainer would apply, then applied with
// `git am` in our worktree. Selection (cover letters, versions, duplicates,
// order) is pure so it can be tested on mails written by hand.
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AddressObject } from 'mailparser';
import { MAIL_LIMITS, parseMail } from '../host/mail.js';
import { mboxMessages, mboxStarts } from '../host/mbox.ts';
import { sha256 } from '../host/fsutil.js';
import { cacheDir } from '../host/paths.js';
import { git, gitSandbox } from './source.js';
import { PatchApplyError, SeriesError } from './errors.js';
import { withSettings } from '../host/errors.ts';
import { SERIES } from './settings.ts';

/** One mail as read from the input, before selection. */
export interface Mail {
  /** Where it came from (file name, and index inside an mbox). */
  origin: string;
  /** Position in the input, used to break ties and to order unnumbered patches. */
  seq: number;
  subject: string;
  from: string;
  date: Date | null;
  messageId: string | null;
  /** Decoded text/plain body (the commit message, `---`, the diff). */
  body: string;
}

export interface SubjectInfo {
  isReply: boolean;
  /** True when a bracket tag says PATCH or RFC. */
  tagged: boolean;
  version: number;
  number: number | null;
  total: number | null;
  /** The subject without Re:/[PATCH ...] prefixes: what becomes the commit title. */
  title: string;
}

export interface Patch {
  number: number;
  total: number;
  version: number;
  title: string;
  from: string;
  date: Date | null;
  messageId: string | null;
  origin: string;
  /** A single-message mbox that `git am` applies to give this commit. */
  mail: string;
}

export interface Series {
  patches: Patch[];
  version: number;
  cover: { title: string; messageId: string | null } | null;
  /** From a `base-commit:` trailer (b4/format-patch --base), when present. */
  baseCommit: string | null;
  /**
   * `prerequisite-patch-id:` trailers (format-patch --base, b4): patches the
   * series needs below it that are not in base-commit. Not fetched: named.
   */
  prerequisites: string[];
  /** For a git range A..B: the commit A resolves to. */
  rangeBase: string | null;
  /** Content hash of the selected patches, in order: part of the build key. */
  hash: string;
  /** What was left out and why, for the user to see. */
  notes: string[];
  source: string;
}

// ------------------------------------------------------------ splitting ---

/**
 * Split an mbox into its messages. Also accepts a single mail without a From_ line.
 * A From_ line starts a message only when a header line follows it: git am's
 * mbox (what `b4 am` and format-patch write) leaves body lines such as
 * "From the report: ..." unquoted.
 */
export function splitMbox(text: string): string[] {
  const t = normalizeNewlines(text);
  const lines = t.split('\n');
  const starts = mboxStarts(lines, { accept: (i) => HEADER_LINE.test(lines[i + 1] ?? '') });
  if (starts.length === 0) return t.trim() ? [t] : [];
  return mboxMessages(lines, starts)
    .map((m) => m.lines.join('\n'))
    .filter((m) => m.trim() !== '');
}

const HEADER_LINE = /^[A-Za-z][\w-]*:/;

export function normalizeNewlines(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

export function parseSubject(raw: string): SubjectInfo {
  let s = raw.replace(/\s+/g, ' ').trim();
  let isReply = false;
  for (;;) {
    const m = /^(re|fwd?|aw)\s*:\s*/i.exec(s);
    if (!m) break;
    isReply = true;
    s = s.slice(m[0].length);
  }
  let tagged = false;
  let version = 1;
  let number: number | null = null;
  let total: number | null = null;
  for (;;) {
    const m = /^\[([^\]]*)\]\s*/.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
    for (const tok of m[1]!.split(/[\s,]+/)) {
      if (/^(patch|rfc)$/i.test(tok)) tagged = true;
      const v = /^v(\d+)$/i.exec(tok);
      if (v) version = Number(v[1]);
      const n = /^(\d+)\/(\d+)$/.exec(tok);
      if (n) {
        number = Number(n[1]);
        total = Number(n[2]);
      }
    }
    // "[PATCHv2 3/4]" glues the version to the tag.
    const glued = /(?:patch|rfc)v(\d+)/i.exec(m[1]!);
    if (glued) {
      tagged = true;
      version = Number(glued[1]);
    }
  }
  return { isReply, tagged, version, number, total, title: s };
}

export function hasDiff(body: string): boolean {
  return /^diff --git a\//m.test(body) || (/^--- \S/m.test(body) && /^\+\+\+ \S/m.test(body) && /^@@ -\d/m.test(body));
}

const BASE_RE = /^base-commit:\s*([0-9a-f]{7,40})\s*$/m;
const PREREQ_RE = /^prerequisite-patch-id:\s*([0-9a-f]{40})\s*$/gim;

// ------------------------------------------------------------- parsing ---

function addressText(a: AddressObject | AddressObject[] | undefined): string {
  const first = Array.isArray(a) ? a[0] : a;
  const v = first?.value[0];
  if (!v) return 'Unknown <unknown@localhost>';
  return v.name ? `${v.name} <${v.address ?? 'unknown@localhost'}>` : `${v.address}`;
}

/** Parse raw mails with mailparser (MIME, quoted-printable, base64, attachments). */
export async function parseMails(raws: { origin: string; text: string }[]): Promise<Mail[]> {
  const out: Mail[] = [];
  let seq = 0;
  for (const r of raws) {
    const text = normalizeNewlines(r.text);
    if (!/^[A-Za-z][\w-]*:/.test(text)) {
      // A bare diff (no mail headers): its file name stands in for the subject.
      out.push({ origin: r.origin, seq: seq++, subject: basename(r.origin).replace(/\.(patch|diff)$/, '').replace(/^\d+-/, ''), from: 'Unknown <unknown@localhost>', date: null, messageId: null, body: text });
      continue;
    }
    let m;
    try {
      m = await parseMail(text, r.origin);
    } catch (e) {
      throw new SeriesError((e as Error).message.split(' — ')[0]!, 'pass an mbox from `b4 am`/your mail client, a directory of .patch files, or a git range A..B');
    }
    let body = normalizeNewlines(m.text ?? '');
    if (!hasDiff(body)) {
      // Patches sent as attachments (text/x-patch) land outside `text`.
      for (const a of m.attachments ?? []) {
        const c = normalizeNewlines(a.content.toString('utf8'));
        if (hasDiff(c)) {
          body = body.trimEnd() + '\n\n' + c;
          break;
        }
      }
    }
    out.push({
      origin: r.origin,
      seq: seq++,
      subject: m.subject ?? '',
      from: addressText(m.from),
      date: m.date ?? null,
      messageId: m.messageId ?? null,
      body,
    });
  }
  return out;
}

// ----------------------------------------------------------- selection ---

/** Pick the patches of the newest version, in order. Pure. */
export function selectSeries(mails: Mail[], source: string): Series {
  const notes: string[] = [];
  const { patches, covers } = sortMails(dropDuplicates(mails, notes), notes);
  if (patches.length === 0) {
    throw new SeriesError(`${source} holds no patches (${mails.length} mail(s), none with a diff)`, 'pass an mbox from `b4 am`/your mail client, a directory of .patch files, or a git range A..B');
  }

  const version = Math.max(...patches.map((p) => p.info.version));
  const older = [...new Set(patches.filter((p) => p.info.version !== version).map((p) => p.info.version))].sort();
  if (older.length) notes.push(`using v${version}; ignored ${older.map((v) => `v${v}`).join(', ')}`);
  const chosen = patches.filter((p) => p.info.version === version);
  const ordered = orderPatches(chosen, version, source, notes);

  const coverCand = covers.filter((c) => c.info.version === version).pop() ?? null;
  const carriers = [coverCand?.mail, ...ordered.map((p) => p.mail)];
  const baseCommit = findBaseCommit(carriers);
  const prerequisites = findPrerequisites(carriers);
  if (prerequisites.length) {
    notes.push(`the series names ${prerequisites.length} prerequisite patch(es) (prerequisite-patch-id ${prerequisites.map((p) => p.slice(0, 12)).join(', ')}): they must be in the base; if git am fails, apply them first (b4 shazam fetches them)`);
  }

  const out: Patch[] = ordered.map((p, i) => ({
    number: i + 1,
    total: ordered.length,
    version,
    title: p.info.title,
    from: p.mail.from,
    date: p.mail.date,
    messageId: p.mail.messageId,
    origin: p.mail.origin,
    mail: renderMail(p.mail, p.info.title),
  }));
  return {
    patches: out,
    version,
    cover: coverCand ? { title: coverCand.info.title, messageId: coverCand.mail.messageId } : null,
    baseCommit,
    prerequisites,
    rangeBase: null,
    hash: sha256(...out.map((p) => p.mail)),
    notes,
    source,
  };
}

/** A mail with its parsed subject: a candidate patch or cover letter. */
type Cand = { mail: Mail; info: SubjectInfo };

/** The mails with a repeated Message-ID left out (the first one stays); each drop noted. */
function dropDuplicates(mails: Mail[], notes: string[]): Mail[] {
  const seen = new Set<string>();
  const unique: Mail[] = [];
  for (const m of mails) {
    if (m.messageId) {
      if (seen.has(m.messageId)) {
        notes.push(`dropped duplicate of ${m.messageId} (${m.origin})`);
        continue;
      }
      seen.add(m.messageId);
    }
    unique.push(m);
  }
  return unique;
}

/** Patches (mails with a diff) and cover letters (0/N, or tagged without a diff); replies are skipped. */
function sortMails(mails: Mail[], notes: string[]): { patches: Cand[]; covers: Cand[] } {
  const patches: Cand[] = [];
  const covers: Cand[] = [];
  for (const mail of mails) {
    const info = parseSubject(mail.subject);
    const diff = hasDiff(mail.body);
    if (info.isReply) {
      if (diff) notes.push(`skipped reply "${mail.subject}"`);
      continue;
    }
    if (info.number === 0 || !diff) {
      if (info.number === 0 || info.tagged) covers.push({ mail, info });
      continue;
    }
    patches.push({ mail, info });
  }
  return { patches, covers };
}

/**
 * The patches of one version in apply order: by their N/M numbers, or in
 * input order when none is numbered. Throws when a numbered slot is missing.
 */
function orderPatches(chosen: Cand[], version: number, source: string, notes: string[]): Cand[] {
  const numbered = chosen.filter((p) => p.info.number !== null);
  if (numbered.length === 0) {
    // Unnumbered patches (a directory of plain diffs, single patches): input order.
    return [...chosen].sort((a, b) => a.mail.seq - b.mail.seq);
  }
  if (numbered.length !== chosen.length) {
    const stray = chosen.filter((p) => p.info.number === null);
    notes.push(`ignored unnumbered patch(es) beside a numbered series: ${stray.map((p) => `"${p.mail.subject}"`).join(', ')}`);
  }
  const byNumber = new Map<number, Cand>();
  for (const p of numbered.sort((a, b) => a.mail.seq - b.mail.seq)) {
    const prev = byNumber.get(p.info.number!);
    if (prev) {
      // A resend of the same slot: the later mail wins (date, then input order).
      const later = (p.mail.date?.getTime() ?? 0) >= (prev.mail.date?.getTime() ?? 0) ? p : prev;
      notes.push(`patch ${p.info.number} sent twice; kept "${later.mail.origin}"`);
      byNumber.set(p.info.number!, later);
    } else byNumber.set(p.info.number!, p);
  }
  const total = Math.max(...numbered.map((p) => p.info.total ?? 0), ...byNumber.keys());
  const missing: number[] = [];
  for (let i = 1; i <= total; i++) if (!byNumber.has(i)) missing.push(i);
  if (missing.length) {
    throw new SeriesError(
      `${source}: v${version} is missing patch(es) ${missing.map((i) => `${i}/${total}`).join(', ')}`,
      'fetch the whole thread (e.g. `b4 am <message-id>`) and pass that mbox',
      { missing, version },
    );
  }
  return [...byNumber.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

/** The first `base-commit:` trailer in the cover letter, then the patches in order. */
function findBaseCommit(mails: (Mail | undefined)[]): string | null {
  for (const m of mails) {
    const b = m ? BASE_RE.exec(m.body) : null;
    if (b) return b[1]!;
  }
  return null;
}

/**
 * `prerequisite-patch-id:` trailers as git format-patch --base writes them:
 * in the cover letter, or below the first patch's --- when there is none.
 * The first mail that has any names all.
 */
function findPrerequisites(mails: (Mail | undefined)[]): string[] {
  for (const m of mails) {
    const ids = m ? [...m.body.matchAll(PREREQ_RE)].map((x) => x[1]!.toLowerCase()) : [];
    if (ids.length) return [...new Set(ids)];
  }
  return [];
}

/** A clean single-message mboxrd for `git am --patch-format=mboxrd`: decoded body, plain subject, LF line ends. */
function renderMail(m: Mail, title: string): string {
  const date = m.date ? m.date.toUTCString() : 'Thu, 1 Jan 1970 00:00:00 +0000';
  let body = m.body.replace(/\n*$/, '\n');
  // A body line starting with "From " would be read as a new message.
  body = body.replace(/^(>*From )/gm, '>$1');
  return `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: ${m.from}\nDate: ${date}\nSubject: ${title}\n\n${body}`;
}

// ------------------------------------------------------------- loading ---

/**
 * Read a series from an mbox file, a directory of patches, or (given the
 * repository) a git range. Throws SeriesError for anything unusable.
 */
/** A git range A..B (or A...B) rather than a path: what loadSeries reads from the tree. */
export function isRange(spec: string): boolean {
  const looksLikePath = /^[./~]/.test(spec) || /\.(mbox|patch|diff|eml)$/.test(spec);
  return !looksLikePath && spec.includes('..');
}

/** A series is at most this much text: more is not a patch series (and would be parsed whole). */
export const SERIES_MAX_BYTES = 64 << 20;

async function readInput(path: string): Promise<string> {
  try {
    const st = await stat(path);
    if (st.size > SERIES_MAX_BYTES) throw new SeriesError(`series ${path} is ${Math.round(st.size / 2 ** 20)} MiB, over the ${SERIES_MAX_BYTES >> 20} MiB a series may be`, 'give the mbox of the series alone (b4 am), not a whole archive');
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof SeriesError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new SeriesError(`series ${path} cannot be read (${code})`, 'check the path and its permissions');
  }
}

export async function loadSeries(spec: string, repoDir?: string): Promise<Series> {
  const st = await stat(spec).catch(() => null);
  if (!st) {
    if (isRange(spec) && repoDir) return loadRange(spec, repoDir);
    throw new SeriesError(`series ${spec} does not exist`, 'pass an mbox file, a directory of .patch files (or b4 am -o output), - for standard input, or a git range A..B');
  }
  let raws: { origin: string; text: string }[] = [];
  if (st.isDirectory()) {
    const names = await readdir(spec).catch((e: NodeJS.ErrnoException) => {
      throw new SeriesError(`series directory ${spec} cannot be read (${e.code ?? 'error'})`, 'check the path and its permissions');
    });
    // .mbx and .cover: what `b4 am -o DIR` writes (the series, its cover letter).
    const files = names.filter((f) => /\.(patch|diff|mbox|mbx|cover|eml)$/.test(f)).sort();
    for (const f of files) {
      const text = await readInput(join(spec, f));
      const msgs = splitMbox(text);
      msgs.forEach((t, i) => raws.push({ origin: msgs.length > 1 ? `${f}#${i + 1}` : f, text: t }));
    }
    if (files.length === 0) {
      throw new SeriesError(`${spec} holds no .patch, .diff, .mbox or .mbx files`, withSettings`point ${SERIES} at the directory \`git format-patch\` or \`b4 am -o\` wrote, or at an mbox`);
    }
  } else if (!st.isFile()) {
    // A FIFO or a device would block or never end.
    throw new SeriesError(`series ${spec} is not a regular file`, 'save the mbox to a file and pass its path');
  } else {
    const text = await readInput(spec);
    raws = splitMbox(text).map((t, i) => ({ origin: `${basename(spec)}#${i + 1}`, text: t }));
  }
  const total = raws.reduce((n, r) => n + r.text.length, 0);
  if (total > SERIES_MAX_BYTES) throw new SeriesError(`series ${spec} holds ${Math.round(total / 2 ** 20)} MiB of mail, over the ${SERIES_MAX_BYTES >> 20} MiB a series may be`, 'give the patches of the series alone');
  if (raws.length > MAIL_LIMITS.messages) throw new SeriesError(`series ${spec} holds ${raws.length} mails, over the ${MAIL_LIMITS.messages} a series may have`, 'give the mbox of the series alone (b4 am), not a whole archive');
  return selectSeries(await parseMails(raws), spec);
}

async function loadRange(range: string, repoDir: string): Promise<Series> {
  const [from] = range.split(/\.\.\.?/);
  // Both ends are the user's words: never let them be read as options.
  const fromRes = await git(repoDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${from || 'HEAD'}^{commit}`], { reject: false });
  const r = await git(repoDir, ['format-patch', '--stdout', '--numbered', '--no-signature', '--end-of-options', range], { reject: false, timeoutMs: 600_000 });
  if (r.exitCode !== 0 || fromRes.exitCode !== 0) {
    throw new SeriesError(`git range ${range} is not valid in ${repoDir}`, 'check both ends with `git log A..B` in the source tree');
  }
  const raws = splitMbox(r.stdout).map((t, i) => ({ origin: `${range}#${i + 1}`, text: t }));
  if (raws.length === 0) throw new SeriesError(`git range ${range} holds no commits`, 'give A..B with A an ancestor of B');
  const s = selectSeries(await parseMails(raws), range);
  return { ...s, rangeBase: fromRes.stdout.trim() };
}

// ------------------------------------------------------------- applying ---

/** Find the hunk header in `mail` for `file` whose old range starts at `line`. */
export function findHunk(mail: string, file: string, line: number | null): string | null {
  const lines = mail.split('\n');
  let inFile = false;
  let first: string | null = null;
  let index = 0;
  for (const l of lines) {
    if (l.startsWith('diff --git ')) {
      inFile = l.endsWith(` b/${file}`) || l.includes(` a/${file} `);
      continue;
    }
    if (inFile && l.startsWith('@@ ')) {
      index++;
      first ??= `#${index} ${l}`;
      const m = /^@@ -(\d+)/.exec(l);
      if (line !== null && m && Number(m[1]) === line) return `#${index} ${l}`;
    }
  }
  return first;
}

/** Make sense of `git am`'s complaint: which patch, file and hunk. */
export function parseAmFailure(output: string): { index: number | null; file: string | null; line: number | null } {
  const idx = /Patch failed at (\d+)/.exec(output);
  const pf = /error: patch failed: (.+):(\d+)$/m.exec(output);
  const other = /error: (.+?): (?:does not exist in index|No such file or directory|already exists in (?:index|working directory)|patch does not apply)$/m.exec(output);
  return {
    index: idx ? Number(idx[1]) : null,
    file: pf ? pf[1]! : other ? other[1]! : null,
    line: pf ? Number(pf[2]) : null,
  };
}

/**
 * Apply the series on top of the worktree's HEAD in one `git am` session, so
 * a failure can be rolled back whole. On failure the worktree is left at the
 * base commit, clean, and a PatchApplyError names the patch, file and hunk.
 */
export async function applySeries(worktree: string, series: Series): Promise<void> {
  if (series.patches.length === 0) return;
  const base = (await git(worktree, ['rev-parse', 'HEAD'])).stdout.trim();
  const dir = cacheDir('kernel', 'tmp', `series-${process.pid}-${series.hash.slice(0, 8)}`);
  await mkdir(dir, { recursive: true });
  try {
    const files: string[] = [];
    for (const p of series.patches) {
      const f = join(dir, `${String(p.number).padStart(4, '0')}.patch`);
      await writeFile(f, p.mail);
      files.push(f);
    }
    const env = { GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z' };
    // The patches are handed over with the worktree: read by the sandbox
    // account whatever the umask made of their modes.
    const sandbox = await gitSandbox(worktree);
    sandbox.writable!.push(dir);
    const r = await git(worktree, ['am', '--quiet', '--no-3way', '--patch-format=mboxrd', ...files], { reject: false, env, timeoutMs: 600_000, sandbox });
    if (r.exitCode === 0) return;
    const out = `${r.stdout}\n${r.stderr}`;
    const f = parseAmFailure(out);
    await git(worktree, ['am', '--abort'], { reject: false, sandbox });
    await git(worktree, ['reset', '-q', '--hard', base]);
    await git(worktree, ['clean', '-q', '-fd']);
    const p = series.patches[(f.index ?? 1) - 1] ?? series.patches[0]!;
    throw new PatchApplyError(
      { number: p.number, total: p.total, subject: p.title },
      f.file,
      f.file ? findHunk(p.mail, f.file, f.line) : null,
      out.trim(),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Revert commits on top of the worktree's HEAD with `git revert` (a 3-way
 * merge, as a developer would). On a conflict the worktree is put back
 * where it was and a PatchApplyError names the revert and the file.
 */
export async function revertCommits(worktree: string, commits: string[]): Promise<void> {
  const base = (await git(worktree, ['rev-parse', 'HEAD'])).stdout.trim();
  const env = { GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z' };
  const sandbox = await gitSandbox(worktree);
  for (const [i, c] of commits.entries()) {
    // A merge on the first-parent line is reverted against its first parent.
    const parents = (await git(worktree, ['rev-list', '--parents', '-n', '1', c])).stdout.trim().split(' ').length - 1;
    const r = await git(worktree, ['revert', '--no-edit', ...(parents > 1 ? ['-m', '1'] : []), c], { reject: false, env, timeoutMs: 600_000, sandbox });
    if (r.exitCode === 0) continue;
    const out = `${r.stdout}\n${r.stderr}`;
    const subject = (await git(worktree, ['log', '-1', '--format=%s', c], { reject: false })).stdout.trim();
    await git(worktree, ['revert', '--abort'], { reject: false });
    await git(worktree, ['reset', '-q', '--hard', base]);
    await git(worktree, ['clean', '-q', '-fd']);
    const file = /CONFLICT \([^)]*\): (?:Merge conflict in )?(\S+)/.exec(out)?.[1] ?? null;
    throw new PatchApplyError({ number: i + 1, total: commits.length, subject: `Revert "${subject}" (${c.slice(0, 12)})` }, file, null, out.trim());
  }
}

/**
 * Where each of these patches sits once the whole series is applied, as
 * HEAD~N (the last patch is HEAD~0), in the order given. A number that is
 * not in the series is a RangeError: the caller named a patch it never had.
 */
export function seriesPatchRevs(series: Pick<Series, 'patches'>, numbers: number[]): string[] {
  return numbers.map((n) => {
    const at = series.patches.findIndex((p) => p.number === n);
    if (at < 0) throw new RangeError(`patch ${n} is not in the series (${series.patches.map((p) => p.number).join(', ')})`);
    return `HEAD~${series.patches.length - 1 - at}`;
  });
}

/**
 * Revert patches of a series that was just applied on the worktree's HEAD
 * (a bisection's revert check: the culprit undone on top of the bad end).
 * Resolved to commits first: each revert moves HEAD.
 */
export async function revertSeriesPatches(worktree: string, series: Pick<Series, 'patches'>, numbers: number[]): Promise<void> {
  const commits: string[] = [];
  for (const rev of seriesPatchRevs(series, numbers)) commits.push((await git(worktree, ['rev-parse', '--verify', `${rev}^{commit}`])).stdout.trim());
  await revertCommits(worktree, commits);
}
