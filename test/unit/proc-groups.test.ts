// No process the harness starts outlives it: each child leads its own process
// group and the whole group ends on Ctrl-C (to the harness alone or to its
// terminal's whole group), SIGTERM, SIGKILL of the harness, a timeout, and the
// leader's own exit. The harness here is a real node process running our
// wrapper over a `make -j3` whose recipes stand in for compilers.
import t from 'tap';
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../harness/src/host/proc.ts';

const PROC = join(import.meta.dirname, '..', '..', 'harness', 'src', 'host', 'proc.ts');
let seq = 0;

/** A sleep duration no other process on the machine uses: it names our descendants. */
function marker(): string {
  return `${4000 + (process.pid % 1000)}.${Date.now() % 100000}${seq++}`;
}

/** Pids whose command line holds the marker (the sleeps and the shells around them). */
function holders(m: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(m) && !cmd.includes('daxh-test-harness')) out.push(Number(d));
  }
  return out;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** A harness process: our wrapper runs make -j3, whose three recipes each run a shell with two sleeps. */
function harness(m: string, detached = false): { child: ChildProcess; ready: Promise<void>; exit: Promise<{ code: number | null; signal: string | null }> } {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-proc-'));
  const rule = `\tsh -c 'sleep ${m} & sleep ${m}; wait'\n`;
  writeFileSync(join(dir, 'Makefile'), `all: a b c\n\t@true\na:\n${rule}b:\n${rule}c:\n${rule}`);
  const code = `
    const { run } = await import(${JSON.stringify(PROC)});
    const p = run('make', ['-j3', '-C', ${JSON.stringify(dir)}], { timeoutMs: 600000, reject: false });
    console.log('started');
    await p;
    console.log('make ended');`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = nodeSpawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, 'daxh-test-harness'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const ready = (async () => {
    // Six sleeps under three shells under make: the whole tree is up.
    if (!(await until(() => holders(m).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep')).length >= 6, 20000)))
      throw new Error(`the process tree did not start: ${out}`);
  })();
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, ready, exit };
}

const endings: Array<[string, (h: ReturnType<typeof harness>) => void, boolean, { code?: number; signal?: string }]> = [
  ['SIGINT to the harness: exit 130 and no compiler left', (h) => h.child.kill('SIGINT'), false, { code: 130 }],
  ["a terminal's Ctrl-C (SIGINT to the harness's whole process group)", (h) => process.kill(-h.child.pid!, 'SIGINT'), true, { code: 130 }],
  ['SIGTERM to the harness: exit 143 and nothing left', (h) => h.child.kill('SIGTERM'), false, { code: 143 }],
  ['SIGKILL of the harness: the group guard ends the build', (h) => h.child.kill('SIGKILL'), false, { signal: 'SIGKILL' }],
];

for (const [name, end, detached, want] of endings) {
  t.test(name, async (t) => {
    const m = marker();
    const h = harness(m, detached);
    await h.ready;
    end(h);
    const x = await h.exit;
    if (want.code !== undefined) t.equal(x.code, want.code);
    if (want.signal !== undefined) t.equal(x.signal, want.signal);
    t.ok(await until(() => holders(m).length === 0, 5000), `left: ${holders(m).join(' ')}`);
  });
}

t.test('a timeout ends the whole group, not only the leader', async (t) => {
  const m = marker();
  const t0 = Date.now();
  const r = await run('sh', ['-c', `sleep ${m} & (sleep ${m} & wait) & sleep ${m}`], { timeoutMs: 700, reject: false });
  t.ok(r.timedOut, 'timed out');
  t.ok(r.failed);
  t.ok(Date.now() - t0 < 5000, 'returned promptly');
  t.ok(await until(() => holders(m).length === 0, 3000), `left: ${holders(m).join(' ')}`);
});

t.test("a leader that exits takes what it left in its group with it (and its pipes don't hang the harness)", async (t) => {
  const m = marker();
  const t0 = Date.now();
  const r = await run('sh', ['-c', `sleep ${m} & echo started; exit 3`], { timeoutMs: 60000, reject: false });
  t.equal(r.exitCode, 3);
  t.equal(r.stdout, 'started\n');
  t.ok(Date.now() - t0 < 5000, `returned in ${Date.now() - t0} ms`);
  t.ok(await until(() => holders(m).length === 0, 3000), `left: ${holders(m).join(' ')}`);
});

t.test('the command keeps default signal actions, stdin and exit status', async (t) => {
  t.equal((await run('cat', [], { timeoutMs: 10000, input: 'in\n' })).stdout, 'in\n');
  t.equal((await run('sh', ['-c', 'kill -INT $$'], { timeoutMs: 10000, reject: false })).signal, 'SIGINT');
  t.equal((await run('sh', ['-c', 'exit 7'], { timeoutMs: 10000, reject: false })).exitCode, 7);
  // A tool that is not there is a one-line input error before anything starts, whatever reject says.
  const { MissingToolError } = await import('../../harness/src/host/proc.ts');
  await t.rejects(run('daxh-no-such-tool', [], { timeoutMs: 10000, reject: false }), MissingToolError);
  await t.rejects(run('daxh-no-such-tool', [], { timeoutMs: 10000 }), { message: /host tool "daxh-no-such-tool" is not installed or not on PATH/ });
});
