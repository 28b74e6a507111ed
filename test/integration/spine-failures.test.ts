// How the guest channel behaves when things go wrong, on a real guest: a
// hanging command timed out with its whole process group, and timeouts next
// to concurrent commands never leaving the channel refusing the next exec.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { bootDefault } from './boot-default.ts';

t.test('a guest command that hangs is timed out, its process group killed, the guest still usable', async (t) => {
  const { s, runDir } = await bootDefault('sess');
  t.teardown(() => s.close());
  const r = await s.guest.exec(['sh', '-c', 'sleep 600 & sleep 601; echo never'], { timeoutMs: 2000 });
  t.equal(r.timedOut, true, 'reported as a timeout');
  t.ok(r.durationMs < 10000, `returned soon after the timeout (${r.durationMs} ms)`);
  t.notMatch(r.stdout, /never/);
  const ps = await s.guest.exec(['sh', '-c', 'ps | grep -c "[s]leep 60" || true'], { timeoutMs: 20000 });
  t.equal(ps.stdout.trim(), '0', 'both sleeps (the whole process group) were killed');
  const ok = await s.guest.exec(['echo', 'still here'], { timeoutMs: 20000 });
  t.equal(ok.exitCode, 0);
  t.equal(ok.stdout, 'still here\n');
  const payload = join(runDir, 'payload.bin');
  writeFileSync(payload, Buffer.from(Array.from({ length: 300000 }, (_, i) => i % 251)));
  await s.guest.putFile(payload, '/tmp/payload.bin', '0600');
  const sum = await s.guest.exec(['sh', '-c', 'md5sum /tmp/payload.bin; stat -c %a /tmp/payload.bin'], { timeoutMs: 20000 });
  t.equal(sum.stdout.split(/\s+/)[0], createHash('md5').update(readFileSync(payload)).digest('hex'), 'putFile copies bytes exactly');
  t.match(sum.stdout, /\n600\n$/, 'with the mode asked for');
  const fail = await s.guest.exec(['sh', '-c', 'echo oops >&2; exit 3'], { timeoutMs: 20000 });
  t.equal(fail.exitCode, 3, 'exit codes come back');
  t.equal(fail.stderr, 'oops\n', 'stderr comes back without the harness markers');
});

t.test('timed-out and concurrent commands never leave the channel refusing the next exec', async (t) => {
  // dropbear closed a fresh channel whenever another child of the same ssh
  // connection ended between its open and its exec ("Unable to exec" right
  // after a timed-out command). Four streams of timeouts and short commands
  // make that window likely many times over.
  const { s } = await bootDefault('race');
  t.teardown(() => s.close());
  const errors: string[] = [];
  let ok = 0;
  const stream = async (k: number) => {
    for (let i = 0; i < 40; i++) {
      try {
        if (i % 3 === 0) {
          const hung = await s.guest.exec(['sh', '-c', 'sleep 600 & sleep 601'], { timeoutMs: 200 + 50 * k });
          if (!hung.timedOut) errors.push(`stream ${k} step ${i}: a hanging command was not timed out`);
        }
        const r = await s.guest.exec(['echo', `s${k}-${i}`], { timeoutMs: 20000 });
        if (r.exitCode === 0 && r.stdout === `s${k}-${i}\n`) ok++;
        else errors.push(`stream ${k} step ${i}: exit ${r.exitCode}, output ${JSON.stringify(r.stdout)}`);
      } catch (e) {
        errors.push(`stream ${k} step ${i}: ${(e as Error).message}`);
        return;
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(stream));
  t.same(errors, [], 'no exec was refused and every output came back');
  t.equal(ok, 160, 'all 160 short commands ran');
  t.ok(s.guest.connections() <= 8, `concurrency is served by a few connections (${s.guest.connections()})`);
  const left = await s.guest.exec(['sh', '-c', 'ps | grep -c "[s]leep 60" || true'], { timeoutMs: 20000 });
  t.equal(left.stdout.trim(), '0', 'every timed-out process group was killed');
});

// QEMU killed mid-run, ^C in each phase, SIGKILL of the harness: see the fault
// matrix (test/faults/matrix.ts, test/integration/fault-matrix.test.ts).
