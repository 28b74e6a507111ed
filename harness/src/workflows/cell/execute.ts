// executeCell: boot the prepared guest, run the passes, judge and record.
// The pieces: record.ts (the run's book), keep.ts (the guest, booted or
// adopted, and where it goes after), passes.ts (the tests, repeated),
// stall.ts (the gate a stall goes through), verdict.ts (the judging).
import { rm } from 'node:fs/promises';
import { cacheDir } from '../../host/paths.ts';
import { describeWriteError } from '../../host/capped-file.ts';
import { InputError } from '../../host/errors.ts';
import { closeWatch, type Sink } from './boot.ts';
import { GuestSlot } from './keep.ts';
import { runPasses, type RunScope } from './passes.ts';
import type { CellEnv, PreparedCell, RunOutcome } from './plan.ts';
import { RunBook } from './record.ts';
import { guestIsClean } from './stall.ts';
import { addLooseStep, runEnding, symbolizeCrashes, TestRecorder, type Ending } from './verdict.ts';

/** Boot the prepared guest, run the suite (repeatedly), judge and record. */
export async function executeCell(p: PreparedCell, env: CellEnv): Promise<RunOutcome> {
  const book = await RunBook.open(p, env);
  book.listen(env);
  // Where a run-ending report goes: the boot's stop while booting, then the pass's.
  const sink: Sink = { fatal: () => {}, stall: () => {}, writeError: book.writeError };
  const scope: RunScope = {
    p,
    env,
    book,
    sink,
    results: new TestRecorder(p, book.record, book.save, env.progress),
    slot: new GuestSlot({ p, env, runDir: book.dir, record: book.record, signal: book.stop.signal, sink }, env.guests),
    crashes: [],
    enders: [],
  };
  let ended: Ending | null = null;
  let inputError: InputError | null = null;
  try {
    ended = await runPasses(scope);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err?.code === 'ENOSPC' && !book.writeFailure) book.writeFailure = describeWriteError(err, err.path ?? book.dir);
    ended = { status: 'infra-error', reason: e instanceof Error ? e.message : String(e) };
    if (e instanceof InputError) inputError = e;
  } finally {
    ended = await teardown(scope, ended, inputError !== null);
    await book.close(ended);
  }
  // Recorded as what it did to the run, and still the user's input to fix.
  if (inputError) throw inputError;
  return { record: book.record, runDir: book.dir };
}

/**
 * After the passes: every report on a step, the verdict, the guest kept or
 * shut down, stacks symbolized, the scratch directory gone. Returns the
 * run's ending (its verdict, when nothing ended it before).
 */
async function teardown(r: RunScope, ended: Ending | null, inputError: boolean): Promise<Ending | null> {
  const { p, env, book, slot } = r;
  const record = book.record;
  record.phase = 'teardown';
  // Asked while the oracle still watches the console: what the check itself
  // brings out is this run's.
  const session = slot.session;
  const mayKeep =
    Boolean(env.guests) && session !== null && !ended && !inputError && record.status === 'running' && !book.stop.signal.aborted && session.machine.running && (await guestIsClean(session));
  if (slot.watch) r.crashes.push(...closeWatch(slot.watch));
  record.crashes = r.crashes;
  addLooseStep(p, record, r.crashes);
  if (!ended && record.status === 'running') ended = runEnding(record, r.enders);
  // No await between closing the watch and handing a kept guest over: no console line goes unwatched.
  if (slot.session) await slot.release(mayKeep && ended?.status === 'pass' && record.status === 'running' && !r.crashes.length);
  if (p.kernel.vmlinux && record.crashes.length) await symbolizeCrashes(record, p.kernel, env.progress);
  // A guest this run booted and left in the pool still runs on its backing files.
  if (!slot.keptOwnGuest) await rm(cacheDir('work', record.id), { recursive: true, force: true });
  return ended;
}
