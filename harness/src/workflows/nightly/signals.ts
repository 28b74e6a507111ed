// One SIGINT/SIGTERM handler for a whole night, however many guests run at
// once: it aborts the night's signal, which every running cell's run primitive
// listens to (its run is saved 'interrupted' at once), and gives the night a
// moment to note itself interrupted before the process exits (130/143).
import { setInterruptHandler } from '../../host/proc.ts';

/** Under 5 s: host/proc kills everything and exits 5 s after the signal regardless. */
const SETTLE_MS = 4000;

export async function withNightSignals<T>(work: (signal: AbortSignal) => Promise<T>, settleMs = SETTLE_MS): Promise<T> {
  const stop = new AbortController();
  let settled: Promise<unknown> = Promise.resolve();
  setInterruptHandler(async (sig) => {
    stop.abort(new Error(`interrupted by ${sig}`));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, settleMs)))]);
    clearTimeout(timer);
  });
  const p = work(stop.signal);
  settled = p.catch(() => {});
  return p;
}
