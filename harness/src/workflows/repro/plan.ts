// A repro from report to verdict, minus the guest: the plan (crash, tests to
// try, kernel) before the loop, and the summary after it (verdict, rate, time
// to first reproduction, the two crashes side by side, the commands). Pure.
import type { ReproCatalogue } from '../../suites/index.ts';

export { reproCatalogue } from '../../suites/index.ts';
import type { ReportInput } from './report.ts';
import { reportFacts, type ReportFacts } from './facts.ts';
import { rankCandidates, type Candidate } from './candidates.ts';
import { closestKernel, type DebianKernel, type KernelPick } from './kernels.ts';
import { compareCrashes, type CrashComparison } from './match.ts';
import { reproCommands, type ReproCommands } from './command.ts';
import type { LoopResult } from './loop.ts';

export interface PlanOptions {
  /** The registry's suites as repro ranks them (suites/index.ts reproCatalogue). */
  catalogue: ReproCatalogue;
  /** The user's ndctl tree, when given (ndctl's tests need it). */
  ndctl: string | null;
  /** --test: only these candidate ids. */
  only?: readonly string[];
  /** --crash N: which crash of the report. */
  crash?: number;
  /** Kernel options the user gave (--kernel, --source, --series...), or null to choose a Debian kernel. */
  kernelArgv: readonly string[] | null;
  /** What Debian offers (from apt), or null when unknown. */
  debianKernels: readonly DebianKernel[] | null;
}

export interface KernelChoiceText {
  /** run/repro options that select the kernel ([] = Debian's stock kernel). */
  argv: string[];
  /** Whether the user chose it. */
  given: boolean;
  pick: KernelPick | null;
  /** Why this kernel, one line. */
  why: string;
}

export interface ReproPlan {
  facts: ReportFacts;
  /** Tests the loop will run, best first. */
  candidates: Candidate[];
  /** Tests that rank but cannot run with these options (blocked says why). */
  blocked: Candidate[];
  kernel: KernelChoiceText;
}

export function chooseKernel(f: ReportFacts, o: Pick<PlanOptions, 'kernelArgv' | 'debianKernels'>): KernelChoiceText {
  if (o.kernelArgv) return { argv: [...o.kernelArgv], given: true, pick: null, why: 'as given' };
  const v = f.kernelVersion;
  if (!v) return { argv: [], given: false, pick: null, why: 'the report does not say its kernel version' };
  if (!o.debianKernels || o.debianKernels.length === 0) return { argv: [], given: false, pick: null, why: `no list of Debian kernels to match the report's ${v.release} against` };
  const pick = closestKernel(v, o.debianKernels);
  if (!pick) return { argv: [], given: false, pick: null, why: 'no Debian kernel version could be read' };
  return { argv: [...pick.kernel.argv], given: false, pick, why: `${pick.kernel.label}: ${pick.closeness}` };
}

export function planRepro(input: ReportInput, o: PlanOptions): ReproPlan {
  const facts = reportFacts(input, o.catalogue, o.crash);
  const ranked = rankCandidates(facts, { catalogue: o.catalogue, tree: o.ndctl !== null, only: o.only });
  return {
    facts,
    candidates: ranked.filter((c) => c.blocked === null),
    blocked: ranked.filter((c) => c.blocked !== null),
    kernel: chooseKernel(facts, o),
  };
}

export interface ReproSummary {
  reproduced: boolean;
  /** With --any-crash: a different crash ended the search. */
  otherCrashStopped: boolean;
  stop: LoopResult['stop'];
  reported: { title: string; matchKey: string; kernel: string | null; message: number; subject: string | null };
  /** The reproduced (or, with --any-crash, the first) crash and the test it came from. */
  found: { title: string; test: string; pass: number; why: string[]; runDir: string | null } | null;
  comparison: CrashComparison | null;
  /** The reproducing test's rate over its runs, with its 95% interval. */
  rate: LoopResult['rate'];
  timeToFirstMs: number | null;
  elapsedMs: number;
  passes: number;
  kernel: KernelChoiceText;
  tried: Array<{ id: string; runs: number; hits: number; otherCrashes: number; dropped: string | null; reasons: string[] }>;
  notTried: Array<{ id: string; why: string }>;
  met: Array<{ title: string; verdict: string; test: string | null; count: number; why: string[] }>;
  commands: ReproCommands | null;
}

export function summarise(plan: ReproPlan, loop: LoopResult, o: { report: string; ndctl: string | null; budget?: string; anyCrash?: boolean; seconds?: number }): ReproSummary {
  const want = plan.facts.crash.report;
  const first = loop.first;
  const cand = first ? plan.candidates.find((c) => c.id === first.test) ?? null : null;
  const byId = new Map(plan.candidates.map((c) => [c.id, c]));
  return {
    reproduced: loop.reproduced,
    otherCrashStopped: loop.stop === 'any-crash',
    stop: loop.stop,
    reported: { title: want.title, matchKey: want.matchKey, kernel: want.header?.kernelVersion ?? null, message: plan.facts.crash.source.message, subject: plan.facts.crash.source.subject },
    found: first ? { title: first.report.title, test: first.test, pass: first.pass, why: first.match.why, runDir: first.runDir } : null,
    comparison: first ? compareCrashes(want, first.report) : null,
    rate: loop.rate,
    timeToFirstMs: loop.timeToFirstMs,
    elapsedMs: loop.elapsedMs,
    passes: loop.passes.length,
    kernel: plan.kernel,
    tried: loop.tests.map((t) => ({ id: t.id, runs: t.runs, hits: t.hits, otherCrashes: t.otherCrashes, dropped: t.dropped, reasons: byId.get(t.id)?.reasons ?? [] })),
    notTried: plan.blocked.map((c) => ({ id: c.id, why: c.blocked! })),
    met: loop.met.map((m) => ({ title: m.report.title, verdict: m.verdict, test: m.test, count: m.count, why: m.why })),
    commands: cand ? reproCommands({ report: o.report, kernelArgv: plan.kernel.argv, candidate: cand, ndctl: o.ndctl, budget: o.budget, anyCrash: o.anyCrash, seconds: o.seconds }) : null,
  };
}
