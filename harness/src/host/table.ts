// The one table printer of the CLI: rows of cells in aligned columns, two
// spaces apart, the last column left ragged. Every cell is made one clean
// line first: a reason or a test name with a newline or an escape in it (guest
// text) cannot forge a row or repaint the terminal.
import { lineForTerminal } from './terminal.ts';

export interface TableOptions {
  /** Columns aligned right (sizes, ages, counts). */
  right?: readonly number[];
  /** Least width of each column. */
  minWidths?: readonly number[];
}

export function formatColumns(given: ReadonlyArray<readonly string[]>, o: TableOptions = {}): string {
  const rows = given.map((r) => r.map((c) => lineForTerminal(c)));
  const n = Math.max(0, ...rows.map((r) => r.length));
  const w = Array.from({ length: n }, (_, i) => Math.max(o.minWidths?.[i] ?? 0, ...rows.map((r) => r[i]?.length ?? 0)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (o.right?.includes(i) ? c.padStart(w[i]!) : i === r.length - 1 ? c : c.padEnd(w[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
