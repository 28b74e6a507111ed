// How the spine behaves when things go wrong, on a real guest: a hanging
// guest command, QEMU killed mid-run, ^C during boot.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { bootDefault } from './boot-default.ts';
import { cacheDir } from '../../harness/src/host/paths.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const quiet = () => {};

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function qemuProcessesMentioning(text: string): string[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-af', 'qemu-system'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out.split('\n').filter((l) => l.includes(text));
}

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

t.test('QEMU killed mid-run: infra-error result, console log kept, no QEMU left', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
  let pid: number | undefined;
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology, resultsRoot: results,
    filesystems: ['ext4', 'xfs'], seconds: 0, seed: 1, bootTimeoutMs: 240000, cmdlineExtra: [], progress: quiet,
    onReady: (s) => {
      pid = s.machine.pid;
      // Kill it from outside while the namespace setup / tests run.
      setTimeout(() => process.kill(pid!, 'SIGKILL'), 700);
    },
  });
  t.equal(record.status, 'infra-error', `status: ${record.reason}`);
  t.match(record.reason, /QEMU exited unexpectedly \(SIGKILL\)/);
  const onDisk = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(onDisk.status, 'infra-error', 'run.json says so too');
  t.ok(onDisk.endedAt, 'and has an end time');
  t.ok(statSync(join(runDir, 'console.log')).size > 1000, 'console log kept');
  t.notOk(alive(pid), 'QEMU is gone');
  t.notOk(existsSync(cacheDir('work', record.id)), 'scratch files (NVDIMM backing files) removed');
});

t.test('SIGINT during boot: exit 130, run marked interrupted, no orphan QEMU', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
  const bin = join(import.meta.dirname, '..', '..', 'harness', 'bin', 'dax-harness.js');
  const child = spawn(process.execPath, [bin, 'run', '--results', results], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const sent = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/\[boot\] kernel started/.test(err) && !child.killed) {
        child.kill('SIGINT');
        resolve();
      }
    });
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  await Promise.race([sent, new Promise((r) => setTimeout(r, 10))]);
  t.equal(code, 130, `exit 130 (stderr: ${err.slice(-400)})`);
  const runs = readdirSync(results);
  t.equal(runs.length, 1, 'one run directory');
  const rec = JSON.parse(readFileSync(join(results, runs[0], 'run.json'), 'utf8')) as RunRecord;
  t.equal(rec.status, 'interrupted');
  t.match(rec.reason, /SIGINT/);
  t.ok(existsSync(join(results, runs[0], 'console.log')), 'console log kept');
  await new Promise((r) => setTimeout(r, 500));
  t.same(qemuProcessesMentioning(runs[0]), [], 'no QEMU process of this run survives');
});
