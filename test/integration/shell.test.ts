// dax-harness shell, run --keep, attach and stop on real guests, driven the
// way a person drives them: the real CLI in a tmux pane (a real pty), keys
// typed, the screen read back.
// 1. shell: a typed command runs in the guest, on the DAX filesystem set up;
//    the window size follows the pane; Ctrl-C reaches the guest's program,
//    not the harness; a kernel report triggered from the shell (our fault
//    module) is printed as it happens and recorded; exit N is the exit code.
// 2. shell -- CMD: the command's exit status is the harness's.
// 3. run --keep leaves the guest up with the harness gone; attach (a command,
//    and a pty) reaches it; results lists it; stop ends it and nothing of it
//    is left running. A keeper killed outright takes its QEMU along, and the
//    guest shows as gone.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Guest } from '../../harness/src/vm/guest.ts';
import { buildCensusTools } from '../../harness/src/suites/census.ts';
import { prepareStockKernel } from '../../harness/src/kernel/stock.ts';
import { readGuest, type GuestInfo } from '../../harness/src/workflows/kept.ts';
import { pidAlive } from '../../harness/src/host/pid.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(repo, 'harness/bin/dax-harness.js');
const sock = `daxh-test-${process.pid}`;
t.teardown(() => {
  spawnSync('tmux', ['-L', sock, 'kill-server']);
});

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
}
const screen = (name: string) => tmux('capture-pane', '-p', '-J', '-t', name, '-S', '-400');

async function waitFor(name: string, re: RegExp, ms: number): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const s = screen(name);
    if (re.test(s)) return s;
    if (Date.now() > until) throw new Error(`pane ${name} did not show ${re} within ${ms} ms; it shows:\n${s.split('\n').filter(Boolean).slice(-25).join('\n')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A CLI invocation in a new pane; the pane stays after it ends and shows its exit code. */
function pane(name: string, args: string[], size = { x: 140, y: 40 }): void {
  const quoted = ['node', bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  tmux('new-session', '-d', '-s', name, '-x', String(size.x), '-y', String(size.y), `${quoted}; echo "EXIT=$?"; sleep 3600`);
}

function cli(args: string[], timeoutMs = 600000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function guestOf(results: string, ms = 300000): Promise<GuestInfo> {
  const until = Date.now() + ms;
  for (;;) {
    for (const d of readdirSync(results)) {
      const g = await readGuest(join(results, d));
      if (g) return g;
    }
    if (Date.now() > until) throw new Error(`no guest.json under ${results}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Processes whose command line names this string (a run id, a run directory). */
function processesNaming(s: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    if (Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(s)) out.push(Number(p));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

const run = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;

t.test('shell in a pty: commands, window size, Ctrl-C, a kernel report printed and recorded, the exit code', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-shell-'));
  pane('sh1', ['shell', '--results', results]);
  await waitFor('sh1', /~ # $/m, 300000);
  const info = await guestOf(results);
  t.match(screen('sh1'), /guest ready: \/dev\/pmem\d+ \(fsdax\) with ext4 mounted -o dax on \/mnt\/dax/, 'the namespace and filesystem are set up');
  t.match(screen('sh1'), new RegExp(`others attach with: dax-harness attach ${info.run}`));

  tmux('send-keys', '-t', 'sh1', 'echo typed-$((6*7)) > /mnt/dax/f; cat /mnt/dax/f; grep -c " /mnt/dax .*dax" /proc/mounts', 'Enter');
  await waitFor('sh1', /^typed-42$/m, 60000);
  t.pass('a typed command runs in the guest, on the DAX mount');

  tmux('send-keys', '-t', 'sh1', 'stty size', 'Enter');
  await waitFor('sh1', /^40 140$/m, 30000);
  tmux('resize-window', '-t', 'sh1', '-x', '100', '-y', '30');
  await new Promise((r) => setTimeout(r, 1000));
  tmux('send-keys', '-t', 'sh1', 'clear; stty size', 'Enter');
  await waitFor('sh1', /^30 100$/m, 30000);
  t.pass('the window size follows the terminal');

  tmux('send-keys', '-t', 'sh1', 'sleep 300', 'Enter');
  await new Promise((r) => setTimeout(r, 3000));
  tmux('send-keys', '-t', 'sh1', 'C-c');
  tmux('send-keys', '-t', 'sh1', 'echo slept=$?', 'Enter');
  await waitFor('sh1', /^slept=130$/m, 30000);
  t.pass("Ctrl-C ends the guest's sleep (SIGINT there)");
  t.ok(pidAlive(info.owner.pid), 'and the harness is still there');

  // Our fault module, built for the stock kernel the shell booted, copied in over the guest's ssh.
  const tools = await buildCensusTools(await prepareStockKernel(() => {}));
  const g = await Guest.connect({ port: info.ssh.port, privateKey: readFileSync(info.ssh.identity, 'utf8'), hostKeyBlob: info.ssh.hostKey, deadlineMs: 60000 });
  await g.putFile(tools.faults, '/tmp/daxh_fault.ko');
  g.close();
  tmux('send-keys', '-t', 'sh1', 'clear; insmod /tmp/daxh_fault.ko && echo warn > /sys/kernel/debug/daxh_fault/trigger; echo triggered', 'Enter');
  const shown = await waitFor('sh1', /\[dax-harness\] kernel report: WARNING in daxh_fault_warn/, 60000);
  t.match(shown, /\[dax-harness\] {3}daxh_fault_warn < /, 'printed with its stack');
  await new Promise((r) => setTimeout(r, 2000));
  const mid = run(info.runDir);
  t.equal(mid.status, 'running');
  t.ok(
    mid.tests.some((x) => x.name === 'shell' && x.status === 'crash' && x.crashes.some((c) => c.title === 'WARNING in daxh_fault_warn')),
    'recorded in run.json while the shell is still open',
  );

  tmux('send-keys', '-t', 'sh1', 'exit 4', 'Enter');
  await waitFor('sh1', /^EXIT=\d+$/m, 120000);
  t.match(screen('sh1'), /^EXIT=4$/m, "the login shell's exit status is the harness's");
  const done = run(info.runDir);
  t.equal(done.status, 'fail', 'the run failed: the kernel reported');
  t.ok(done.crashes.some((c) => c.title === 'WARNING in daxh_fault_warn'));
  t.ok(readFileSync(join(info.runDir, 'console.log'), 'utf8').includes('daxh_fault: WARN requested'), 'the console log is kept');
  t.notOk(existsSync(join(info.runDir, 'guest.json')), 'no guest left to attach to');
  t.same(processesNaming(info.runDir), [], 'nothing of the run left running');
});

t.test('shell -- CMD: the exit status is the command\'s', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-shell-'));
  const ok = cli(['shell', '--results', results, '--setup', 'none', '--', 'true']);
  t.equal(ok.status, 0, `shell -- true: ${ok.stderr.split('\n').slice(-3).join(' | ')}`);
  const bad = cli(['shell', '--results', results, '--setup', 'none', '--', 'false']);
  t.equal(bad.status, 1, 'shell -- false');
  // A test of the user's own, copied in (as git bisect run would use it).
  const script = join(mkdtempSync(join(tmpdir(), 'daxh-put-')), 'mytest');
  writeFileSync(script, '#!/bin/sh\nls /dev/dax*\nexit 3\n');
  const out = cli(['shell', '--results', results, '--setup', 'devdax', '--put', script, '--', '/tmp/mytest']);
  t.equal(out.status, 3, "--put: the user's test runs in the guest and its status is the harness's");
  t.match(out.stdout, /^\/dev\/dax\d+\.\d+$/m, '--setup devdax makes a device-dax instance');
});

t.test('run --keep, attach, stop: nothing left running; a keeper killed takes its guest along', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-keep-'));
  const kept = cli(['run', '--keep', '--results', results, '--fs', 'ext4']);
  t.equal(kept.status, 0, `run --keep passes and exits: ${kept.stderr.split('\n').slice(-3).join(' | ')}`);
  const info = await guestOf(results, 5000);
  t.match(kept.stdout, new RegExp(`dax-harness attach ${info.run}`), 'it says how to attach');
  t.match(kept.stdout, new RegExp(`ssh -F ${info.ssh.config} ${info.run}`));
  t.ok(pidAlive(info.owner.pid) && info.qemuPid !== null && pidAlive(info.qemuPid), 'the keeper and its QEMU are up after run exited');

  const cmd = cli(['attach', '--results', results, info.run, '--', 'sh', '-c', 'uname -r; exit 5']);
  t.equal(cmd.status, 5, 'attach -- CMD: the command\'s exit status');
  t.match(cmd.stdout, /^\d+\.\d+\.\d+-\d+-amd64$/m);

  pane('at1', ['attach', '--results', results, info.run]);
  await waitFor('at1', /~ # $/m, 60000);
  tmux('send-keys', '-t', 'at1', 'echo attached-$((2+3))', 'Enter');
  await waitFor('at1', /^attached-5$/m, 30000);
  tmux('send-keys', '-t', 'at1', 'exit', 'Enter');
  await waitFor('at1', /^EXIT=0$/m, 30000);
  t.pass('an interactive attach runs typed commands');

  const listed = cli(['results', '--results', results]);
  t.match(listed.stdout, new RegExp(`${info.run} +kept +127\\.0\\.0\\.1:${info.ssh.port} +\\S+ +up`), 'results lists the guest as up');

  const stop = cli(['stop', '--results', results, info.run], 120000);
  t.equal(stop.status, 0, stop.stderr);
  t.match(stop.stdout, /guest stopped; run pass/);
  t.notOk(pidAlive(info.owner.pid), 'the keeper is gone');
  t.notOk(pidAlive(info.qemuPid!), 'its QEMU is gone');
  t.same(processesNaming(info.runDir), [], 'nothing of the run left running');
  t.equal(run(info.runDir).status, 'pass', 'run.json has its final state');
  t.notOk(existsSync(join(info.runDir, 'guest.json')));

  const again = cli(['run', '--keep', '--results', results, '--fs', 'ext4']);
  t.equal(again.status, 0);
  const second = (await Promise.all(readdirSync(results).map((d) => readGuest(join(results, d))))).find((g) => g && g.run !== info.run)!;
  process.kill(second.owner.pid, 'SIGKILL');
  const until = Date.now() + 15000;
  while (pidAlive(second.qemuPid!) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  t.notOk(pidAlive(second.qemuPid!), 'a keeper killed outright takes its QEMU along');
  t.match(cli(['results', '--results', results]).stdout, new RegExp(`${second.run} +kept .*gone: its owner \\(pid ${second.owner.pid}\\) died`), 'results says the guest is gone');
  const cleaned = cli(['stop', '--results', results, second.run]);
  t.equal(cleaned.status, 0);
  t.match(cleaned.stdout, /was not up .*cleaned up after it/);
  t.notOk(existsSync(join(second.runDir, 'guest.json')));
});
