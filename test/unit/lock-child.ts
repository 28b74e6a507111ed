// One contender of lock.test.ts: takes the lock `rounds` times and, inside,
// claims an occupancy marker exclusively (a second holder would find it) and
// records its interval. With `crash`, some rounds end by dying while holding.
import { appendFileSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { withLock } from '../../harness/src/host/lock.ts';

const [lockDir, log, rounds, crashEvery, go] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Everyone starts together, so the first takeover is raced by all of them.
while (!existsSync(go!)) await sleep(5);
for (let i = 0; i < Number(rounds); i++) {
  await withLock(
    lockDir!,
    async () => {
      const t0 = now();
      try {
        writeFileSync(`${log}.inside`, String(process.pid), { flag: 'wx' });
      } catch {
        appendFileSync(log!, `overlap ${process.pid}\n`);
      }
      await sleep(2 + Math.random() * 8);
      if (Number(crashEvery) > 0 && i % Number(crashEvery) === Number(crashEvery) - 1) {
        unlinkSync(`${log}.inside`);
        appendFileSync(log!, `${process.pid} ${t0} ${now()} crash\n`);
        process.exit(0); // dies holding the lock: no release
      }
      unlinkSync(`${log}.inside`);
      appendFileSync(log!, `${process.pid} ${t0} ${now()}\n`);
    },
    // The default lease (30 s): a busy host must not make a slow holder look dead; dead ones are seen by pid.
    { pollMs: 20 },
  );
}
