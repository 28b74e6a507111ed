// The one mbox splitter: where the messages of an mbox start (its From_
// lines) and their lines with mboxrd's quoting undone. A mailed series
// (kernel/series.ts) and a crash report (oracle/intake.ts) are both read
// through it; the intake asks, through `accept`, that a header block follow
// each From_ line, since a console log may hold a line that starts "From ".

/** An mbox From_ line: "From <sender> <date>", or git format-patch's "From <sha> Mon Sep 17 ...", or "From -". */
export const MBOX_FROM = /^From (?:\S+ .*|-)$/;

/**
 * Indexes of the From_ lines that start messages, from line `from` on: the
 * first line looked at, or one after a blank line, that `accept` agrees to.
 */
export function mboxStarts(lines: readonly string[], o: { from?: number; accept?: (i: number) => boolean } = {}): number[] {
  const from = o.from ?? 0;
  const starts: number[] = [];
  for (let i = from; i < lines.length; i++) {
    if (!MBOX_FROM.test(lines[i]!)) continue;
    if (i > from && lines[i - 1] !== '') continue;
    if (!o.accept || o.accept(i)) starts.push(i);
  }
  return starts;
}

/** Each message's lines (its From_ line dropped) up to the next start, with ">From " unquoted (mboxrd). */
export function mboxMessages(lines: readonly string[], starts: readonly number[]): Array<{ start: number; lines: string[] }> {
  return starts.map((s, k) => ({
    start: s + 1,
    lines: lines.slice(s + 1, k + 1 < starts.length ? starts[k + 1]! : lines.length).map((l) => (/^>+From /.test(l) ? l.slice(1) : l)),
  }));
}
