// The keeper process of `run --keep` (started by workflows/keeper.ts, not a
// command of its own): runs the run with its guest kept after the tests,
// reports to its starter while the starter is there, and logs to the run
// directory's keeper.log.
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runWorkflow } from '../workflows/run.ts';
import { keepAfterSuite } from '../workflows/shell.ts';
import { verdictOfRun } from '../workflows/cell/index.ts';
import { messageOf } from './exit.ts';
import { InputError } from '../host/errors.ts';
import type { KeeperMessage, KeeperStart } from '../workflows/keeper.ts';
import type { RunRecord } from '../results/records.ts';

let runDir: string | null = null;
let pending: string[] = [];

function log(line: string): void {
  const text = `${new Date().toISOString()} ${line}\n`;
  if (!runDir) {
    pending.push(text);
    return;
  }
  const out = pending.join('') + text;
  pending = [];
  void appendFile(join(runDir, 'keeper.log'), out).catch(() => {});
}

function tell(m: KeeperMessage): void {
  if (process.connected) process.send?.(m);
}

async function keep(start: KeeperStart): Promise<void> {
  const stop = new AbortController();
  process.on('message', (m: { type?: string }) => m?.type === 'stop' && stop.abort(new Error('stopped by its starter (Ctrl-C)')));
  // The starter leaving is expected: from then on the run directory is the only channel.
  process.on('disconnect', () => log('starter gone; the guest stays up until stop, the idle limit or the 6 h cap'));
  try {
    const { record, runDir: dir } = await runWorkflow({
      ...start.options,
      signal: stop.signal,
      progress: (phase, msg) => {
        log(`[${phase}] ${msg}`);
        tell({ type: 'progress', phase, msg });
      },
      onReady: (_s, d) => {
        runDir = d;
      },
      pass: keepAfterSuite({
        idleLimitMs: start.idleLimitMs,
        say: log,
        onKept: (info) => {
          // The record as the tests left it: its verdict is the run's, the guest kept aside.
          log(`guest kept: attach with dax-harness attach ${info.run}, stop with dax-harness stop ${info.run}`);
          void currentRecord(info.runDir).then((r) => tell({ type: 'kept', record: r, runDir: info.runDir, info }));
        },
      }),
    });
    runDir = dir;
    log(`run ended: ${record.status}${record.reason ? ` — ${record.reason}` : ''}`);
    tell({ type: 'done', record, runDir: dir });
  } catch (e) {
    log(`error: ${messageOf(e)}`);
    tell({ type: 'error', message: messageOf(e), input: e instanceof InputError });
  }
}

/** run.json as saved after the tests (the cell saves it after every result), judged as the run would be. */
async function currentRecord(dir: string): Promise<RunRecord> {
  const r = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as RunRecord;
  const v = verdictOfRun(r);
  return { ...r, status: v.status, reason: v.reason };
}

process.once('message', (m: KeeperStart) => {
  void keep(m).finally(() => {
    if (process.connected) process.disconnect();
    // Nothing should hold the keeper past its run; if something does, it still goes.
    setTimeout(() => process.exit(0), 2000).unref();
  });
});
