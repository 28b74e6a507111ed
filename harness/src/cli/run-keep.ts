// run --keep: the run goes to a keeper process (workflows/keeper.ts) that
// keeps the guest up after the tests; this prints how to reach it.
import { setInterruptHandler } from '../host/proc.ts';
import { startKeeper, type KeeperStart } from '../workflows/keeper.ts';
import { parseDuration } from './run-options.ts';
import { LIMITS } from '../host/limits.ts';
import type { RunRecord } from '../results/records.ts';

export const KEEP_HELP = `  --keep                 leave the guest up after the tests (or a failure the guest survives),
                         owned by a keeper process, and print how to attach: dax-harness attach RUN,
                         ssh -F RUN/ssh/config ID; dax-harness stop RUN ends it
  --keep-idle DURATION   a kept guest nobody is attached to (attach or ssh) is stopped after this
                         (default 30m); no guest lives past 6 h`;

export async function runKept(
  options: KeeperStart['options'],
  idle: string | undefined,
  progress: (phase: string, msg: string) => void,
): Promise<{ record: RunRecord; runDir: string; after: string[] }> {
  const idleLimitMs = parseDuration(idle ?? '30m', '--keep-idle', LIMITS.keepIdleMs);
  const stop = new AbortController();
  // ^C before the tests are done stops the keeper's run too; after, the guest is the keeper's.
  let settled = false;
  setInterruptHandler(async () => {
    if (!settled) stop.abort();
    await new Promise((r) => setTimeout(r, 4000));
  });
  const out = await startKeeper({ options, idleLimitMs }, progress, stop.signal);
  settled = true;
  if (!out.kept) return { record: out.record, runDir: out.runDir, after: ['the guest did not survive the run: nothing kept'] };
  const i = out.info;
  return {
    record: out.record,
    runDir: out.runDir,
    after: [
      `guest kept up (pid ${i.owner.pid} owns it; ssh on 127.0.0.1:${i.ssh.port}):`,
      `  dax-harness attach ${i.run}${''.padEnd(Math.max(1, 32 - i.run.length))}a shell in it (kernel reports shown as they happen)`,
      `  ssh -F ${i.ssh.config} ${i.run}`,
      `  dax-harness stop ${i.run}${''.padEnd(Math.max(1, 34 - i.run.length))}end it (it ends by itself after ${Math.round(idleLimitMs / 60000)} min with nobody attached, and after 6 h)`,
    ],
  };
}
