// Fabricated nights for the nightly tests: a RunCell that writes real run
// directories with records made from a script (night, cell, role, pass →
// tests), a PrepareKernel that counts its calls, and a clock that only moves
// when told. No guest anywhere.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimRun, saveRun } from '../../harness/src/results/store.ts';
import { parseNightConfig } from '../../harness/src/workflows/nightly/config.ts';
import type { MatrixCell, PrepareKernel, RunCell } from '../../harness/src/workflows/nightly/plan.ts';
import type { CrashReport, KernelArtifact, RunRecord, TestResult, TestStatus, Verdict } from '../../harness/src/results/records.ts';

export interface FakeTest {
  name: string;
  status: TestStatus;
  verdict?: Verdict;
  durationMs?: number;
  crash?: string;
}

/** What a cell's tests do: called once per pass of each run. */
export type Script = (ctx: { night: number; cell: string; role: 'main' | 'rerun'; pass: number }) => FakeTest[];

export function crash(signature: string): CrashReport {
  return {
    type: 'BUG',
    title: `BUG: ${signature}`,
    fatal: false,
    dedupKey: signature,
    matchKey: `BUG||${signature}|`,
    startLine: 10,
    endLine: 20,
    lines: ['[   1.0] BUG: Bad page state in process x  pfn:1234', '[   1.0] page: refcount:0 mapcount:-1'],
    reason: 'bad page state',
    frames: [{ fn: 'free_pages', norm: 'free_pages', offset: 16, size: 64, module: null, reliable: true, inline: false, file: 'mm/page_alloc.c', line: 100, section: 'stack' }],
    pageDump: {
      format: '6.1', page: 'ffffea0000048d00', refcount: 0, mapcount: -1, mapping: null, index: '0x0', pfn: '0x1234', head: null, order: 0,
      compoundMapcount: null, compoundPincount: null, entireMapcount: null, folioMapcount: null, nrPagesMapped: null, pincount: null, memcg: null,
      aops: null, ino: null, dentry: null, kind: null, flagsRaw: '0x0()', flags: [], node: 0, zone: 1, cma: false, pageType: null, raw: [], headRaw: [],
      poisoned: false, pageDoesNotMatchFolio: false, reason: 'nonzero mapcount', assertion: 'nonzero_mapcount', assertMacro: null,
    },
  };
}

export const fakeArtifact = (key: string): KernelArtifact => ({
  kind: 'debian-stock', release: '6.1.0-fake', label: `fake ${key}`, bzImage: '/nonexistent', modulesRoot: null, systemMap: null, vmlinux: null, key,
});

export class FakeLab {
  night = 1;
  calls: { cell: string; role: 'main' | 'rerun'; repeat: number; tests?: string[]; night: number }[] = [];
  kernelCalls = 0;
  running = 0;
  maxRunning = 0;
  /** Started-at clock: one minute per tick, nights a day apart. */
  tick = 0;
  /** Return an "interrupted" record at this call number (1-based), once. */
  interruptAt = 0;
  /** Cells whose runs last until the night's signal aborts them (then 'interrupted', as the run primitive does). */
  holdUntilAbort = new Set<string>();
  /** Cells whose preparation fails (runCell throws, as prepareCell would). */
  failPrepare = new Set<string>();
  private seq = 0;
  constructor(public script: Script) {}

  now = () => new Date(Date.UTC(2026, 0, this.night, 2, 0, 0) + this.tick * 60_000);

  prepareKernel: PrepareKernel = async (spec) => {
    this.kernelCalls++;
    await new Promise((r) => setTimeout(r, 5));
    return fakeArtifact(JSON.stringify(spec).length.toString(16));
  };

  runCell: RunCell = async (plan: MatrixCell, hooks) => {
    const role = this.calls.some((c) => c.cell === plan.key && c.role === 'main' && this.lastNight.get(plan.key) === this.night) ? 'rerun' : 'main';
    if (role === 'main') this.lastNight.set(plan.key, this.night);
    this.calls.push({ cell: plan.key, role, repeat: plan.repeat, tests: plan.tests, night: this.night });
    if (this.failPrepare.has(plan.key)) throw new Error(`image recipe for ${plan.key} did not build`);
    // Ids from the night, cell, role and attempt (not the clock), so a sharded night names its runs as the unsharded one does.
    const nth = this.calls.filter((c) => c.cell === plan.key && c.role === role && c.night === this.night).length;
    const want = `n${this.night}-${plan.key}-${role}${nth > 1 ? nth : ''}`.replace(/[^a-z0-9.-]/gi, '_');
    // A resumed night's redone cell finds its interrupted run's id taken: it gets the next free one, as real runs do.
    let tries = 0;
    const { id, dir } = await claimRun(hooks.resultsRoot, { makeId: () => (tries++ ? `${want}.${tries}` : want) });
    const base = { schema: 1 as const, id, startedAt: this.now().toISOString(), host: { hostname: 'fake', qemuVersion: '0' }, accel: { used: 'tcg' as const, why: 'fake' }, kernel: hooks.kernel,
      image: { recipe: plan.image, key: 'img' }, topology: { nvdimms: [], memmap: [], memMiB: 2048, cpus: hooks.cpus }, topologyHash: 'x', kernelCmdline: '', qemuArgv: [], bootMs: 1000, kernelInitMs: 500 };
    await saveRun(dir, { ...base, status: 'running', reason: '', endedAt: null, tests: [], crashes: [] });
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    if (this.holdUntilAbort.has(plan.key)) {
      this.held++;
      await new Promise((r) => (hooks.signal.aborted ? r(null) : hooks.signal.addEventListener('abort', r, { once: true })));
    } else await new Promise((r) => setTimeout(r, 20));
    this.running--;
    if (hooks.signal.aborted) {
      const record: RunRecord = { ...base, status: 'interrupted', reason: String((hooks.signal.reason as Error).message), endedAt: this.now().toISOString(), tests: [], crashes: [] };
      await saveRun(dir, record);
      return { record, runDir: dir };
    }
    const tests: TestResult[] = [];
    for (let i = 0; i < plan.repeat; i++)
      for (const t of this.script({ night: this.night, cell: plan.key, role, pass: i })) {
        const log = `tests/${t.name}.log`;
        await writeFile(join(dir, log), `${t.name} ${t.status}\n`);
        tests.push({
          name: t.name,
          params: { fs: plan.axes.mode, ...(plan.repeat > 1 ? { pass: String(i + 1) } : {}) },
          status: t.status,
          ...(t.verdict ? { verdict: t.verdict } : {}),
          reason: t.status === 'pass' ? '' : `${t.name} said ${t.status}`,
          startedAt: this.now().toISOString(),
          durationMs: t.durationMs ?? 1000,
          log,
          crashes: t.crash ? [crash(t.crash)] : [],
          metrics: {},
          ...(t.verdict === 'xfail' ? { expected: { statuses: ['fail'], why: 'known bug on 6.1', source: 'fake' } } : {}),
        });
      }
    const interrupted = this.interruptAt > 0 && ++this.seq === this.interruptAt;
    const record: RunRecord = {
      ...base,
      status: interrupted ? 'interrupted' : tests.some((t) => t.status !== 'pass' && t.status !== 'skip') ? 'fail' : 'pass',
      reason: interrupted ? 'interrupted by SIGINT' : '',
      endedAt: this.now().toISOString(),
      tests,
      crashes: tests.flatMap((t) => t.crashes),
    };
    await saveRun(dir, record);
    return { record, runDir: dir };
  };

  /** Runs held until the abort so far. */
  held = 0;
  private lastNight = new Map<string, number>();
}

export const SMOKE_CONFIG = { kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'smoke' }], rerunFailures: 4 };

export async function fakeConfig(raw: unknown = SMOKE_CONFIG) {
  const dir = await mkdtemp(join(tmpdir(), 'nightly-cfg-'));
  return parseNightConfig(raw, join(dir, 'night.yaml'), 'fixed-hash', 'night.yaml');
}

export const tmp = (p: string) => mkdtemp(join(tmpdir(), p));
