// The typed shapes that cross room boundaries. Nothing here does work; every
// other room may import this file and nothing else from results/.

export type Accel = 'kvm' | 'tcg';

/** One emulated NVDIMM (QEMU `-device nvdimm` on a memory-backend-file). */
export interface NvdimmSpec {
  /** Backing file size in MiB (includes the label area when labelSizeMiB > 0). */
  sizeMiB: number;
  /** Label area in MiB taken out of the backing file; 0 means no label area. */
  labelSizeMiB: number;
}

/** A legacy `memmap=SIZE!START` pmem range, both in MiB. */
export interface MemmapSpec {
  sizeMiB: number;
  startMiB: number;
}

export interface Topology {
  nvdimms: NvdimmSpec[];
  memmap: MemmapSpec[];
  /** Guest RAM in MiB (not counting the NVDIMMs). */
  memMiB: number;
  cpus: number;
  /** NUMA nodes (default 1: none declared). Nodes past the first take 1 GiB of RAM each, from the top. */
  numaNodes?: number;
}

export interface KernelArtifact {
  /** 'debian-stock' for the packaged kernel, 'built' for the kernel pipeline's output. */
  kind: 'debian-stock' | 'built' | 'path';
  /** `uname -r` of the kernel. */
  release: string;
  /** Human label, e.g. the Debian package name and version. */
  label: string;
  bzImage: string;
  /** Root of a tree holding lib/modules/<release>, or null when the kernel has no modules. */
  modulesRoot: string | null;
  systemMap: string | null;
  vmlinux: string | null;
  /** Content key of the artifact (package version hash or build key). */
  key: string;
  /** How a 'built' kernel was made (kernel pipeline only). */
  build?: KernelBuildRecord;
  /** nfit_test's wrapped modules laid over a stock kernel's tree (they win over the in-tree drivers). */
  nfitTest?: string[];
}

/** The kernel pipeline's record of one build (kept beside the artifact as build.json). */
export interface KernelBuildRecord {
  /** Where the source came from: a git tree path or a Debian package and version. */
  source: string;
  /** Commit the series was applied on. */
  baseCommit: string;
  /** HEAD of the worktree after the series (equals baseCommit without a series and without uncommitted edits). */
  commit: string;
  /** The tree's uncommitted edits were built (on baseCommit); absent for an exact commit. */
  dirty?: boolean;
  workingTree?: {
    /** The commit the harness made of the working state (in its own repository, not the user's). */
    snapshot: string;
    /** As `git describe --dirty` would say it, with the count of changed files. */
    describe: string;
    files: number;
    /** sha256 of the binary diff baseCommit → snapshot. */
    diffHash: string;
  };
  /** Content hash of the applied series; null without a series. */
  seriesHash: string | null;
  series: { number: number; total: number; title: string; messageId: string | null }[];
  /** Config fragment names in merge order, the merge base, and the hash of their text. */
  configFragments: string[];
  configBase: string;
  configHash: string;
  /** Whose config was the base: the user's tree's own .config, or configBase (absent in older records: fragments). */
  configSource?: 'tree' | 'fragments';
  /** The tree's .config that was the base (configSource 'tree'). */
  treeConfig?: { path: string; sha256: string };
  /** sha256 of the final .config file's bytes (fsutil.sha256File). */
  finalConfigHash: string;
  /** The O= directory and the worktree this build used; later builds of the same source and profile reuse both. */
  buildDir?: string;
  worktree?: string;
  /** Options a fragment asked for that the final .config does not have (only with allowDropped). */
  droppedOptions: string[];
  compiler: string;
  ccache: boolean;
  /** Wall time of the whole preparation, and of the make steps alone. */
  durationMs: number;
  makeMs: number;
  /** Wall time of each step (config, kernel, nfit_test, installs), by name. */
  stepsMs?: Record<string, number>;
  /** Whether the O= directory already held a previous build (incremental). */
  incremental: boolean;
  nfitModules: string[];
  log: string;
  builtAt: string;
}

export interface ImageArtifact {
  kind: 'initramfs' | 'rootfs';
  recipe: string;
  /** sha256 of the recipe inputs; the cache key. */
  key: string;
  /** The base cpio (no kernel modules); for a rootfs, the initramfs that mounts the disk. */
  cpio: string;
  /** Root disk (raw ext4) for rootfs images; each run boots it through its own overlay. */
  disk?: string;
  /** Kernel command-line words the image needs (e.g. which disk is root). */
  cmdline?: string[];
  /** OpenSSH-format private key that the image's sshd accepts for root. */
  sshPrivateKey: string;
  /** The image's host key as the raw public key blob, base64 (for host verification). */
  hostKeyBlob: string;
  /** Guest command that returns once the image has finished its own setup (modules...). */
  ready: string[] | null;
  builtAt: string;
}

export type TestStatus = 'pass' | 'fail' | 'skip' | 'timeout' | 'crash' | 'infra-error';

export type RunStatus = 'running' | 'pass' | 'fail' | 'infra-error' | 'interrupted' | 'aborted';

/**
 * A test's status judged against what is known to happen on this kernel
 * (stressor manifest, known-outcome lists): only 'fail' and 'error' make a run
 * fail. 'xfail' is an expected failure; 'xpass' an expected failure that
 * passed (flagged: a fix, or a test that stopped testing).
 */
export type Verdict = 'pass' | 'fail' | 'skip' | 'xfail' | 'xpass' | 'error';

/** The known outcome a test was judged against. */
export interface ExpectedOutcome {
  /** Statuses that count as expected (e.g. ['fail'] or ['pass', 'crash'] for a race). */
  statuses: TestStatus[];
  /** Regex the result's reason must match for a non-pass status to count as expected. */
  match?: string;
  /** Why, as the list or manifest says it. */
  why: string;
  /** Where it came from: the manifest or known-outcome file path (and entry). */
  source: string;
}

/** One kernel report found on the console (filled in by oracle/). */
export interface CrashReport {
  type: string;
  title: string;
  fatal: boolean;
  dedupKey: string;
  matchKey: string;
  /** Zero-based line index in the console log where the report starts and ends. */
  startLine: number;
  endLine: number;
  /** The report's own lines, normalised for display (timestamps kept). */
  lines: string[];
  /** Everything else the oracle extracts (page dump, registers, frames, taint...). */
  [extra: string]: unknown;
  /**
   * Other names of the same bug, syzkaller style (`stall in f` for a soft lockup or an RCU stall,
   * `bad-access in f` for KASAN, GPF and paging faults): two reports whose title or alternative
   * titles intersect are one bug even when the kind differs.
   */
  altTitles?: string[];
  /** The report was interleaved with other output or cut short, so its title may be wrong; still a crash. */
  corrupted?: boolean;
  /** The report outgrew the oracle's caps (2,000 lines, 256 KiB): `lines` holds its head, this counts the rest. */
  truncated?: { lines: number; bytes: number };
  /** The line that names the report (first oops-start line), without timestamp. */
  headline?: string;
  /** Guilty function chosen for the title, or null. */
  guilty?: string | null;
  /** Source file named by the report (`kernel BUG at F:L`, `WARNING: ... at F:L`), build prefix stripped. */
  file?: string | null;
  sourceLine?: number | null;
  /** Canonical assertion / reason (page-dump assertion, refcount message, ...), or ''. */
  reason?: string;
  frames?: Frame[];
  rip?: Frame | null;
  registers?: Record<string, string>;
  header?: CrashHeader;
  pageDump?: PageDump | null;
  /**
   * Other CPUs' backtraces printed inside the report (NMI backtraces of a stall, all-CPU
   * backtraces after a lockup or hung task), in printed order; absent when there are none.
   */
  cpus?: CpuBacktrace[];
}

/** What one CPU was doing when a stall report asked every CPU for its backtrace. */
export interface CpuBacktrace {
  cpu: number;
  comm: string | null;
  pid: number | null;
  /** Where the CPU was: the interrupted kernel RIP/pc, or the idle function it halted in; null in user space. */
  rip: Frame | null;
  /** Its kernel stack, the NMI that printed it left out. */
  frames: Frame[];
  /** Halted in the idle loop ("skipped: idling at", or an idle function at its RIP). */
  idle: boolean;
  /** The CPU the title blames: the stalled CPU was waiting for it (an IPI it did not answer). */
  culprit?: boolean;
}

export interface CommandResult {
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
}

export interface TestResult {
  name: string;
  /** What the test ran on, e.g. { fs: 'ext4', mode: 'fsdax' }. */
  params: Record<string, string>;
  status: TestStatus;
  reason: string;
  startedAt: string;
  durationMs: number;
  /** Relative path of this test's output file inside the run directory. */
  log: string;
  crashes: CrashReport[];
  /** Free-form measurements the test reports (fault counts, bytes checked...). */
  metrics: Record<string, number | string | boolean>;
  /** The refcount census after the test's unmount (pages checked, bad pages with their dumps). */
  census?: unknown;
  /** The status judged against known outcomes; absent in records written before verdicts existed (read as status). */
  verdict?: Verdict;
  /** The known outcome that applied, when one did. */
  expected?: ExpectedOutcome | null;
}

export interface RunRecord {
  schema: 1;
  id: string;
  status: RunStatus;
  /** Why the run ended the way it did, one line. */
  reason: string;
  /**
   * The harness process that owns a 'running' record and when it last said it
   * was alive: a reader that finds the pid gone or the heartbeat stale shows
   * the run as 'aborted' (harness SIGKILLed, host lost power).
   */
  harness?: { pid: number; hostname: string; heartbeatAt: string };
  /** The harness that made the run: package version and, in a git checkout, its commit. */
  harnessVersion?: { version: string; commit: string | null; dirty: boolean };
  /** Where the run was when it ended (or is now): prepare, boot, test, teardown. */
  phase?: RunPhase;
  /** The plan this run executed (the run primitive's input), for reruns and history. */
  plan?: PlanSummary;
  startedAt: string;
  endedAt: string | null;
  host: { hostname: string; qemuVersion: string };
  accel: { used: Accel; why: string; cpu?: string } | null;
  kernel: KernelArtifact | null;
  image: { recipe: string; key: string } | null;
  topology: Topology;
  topologyHash: string;
  kernelCmdline: string;
  /** The kernel's stall detectors as set for the accelerator (seconds). */
  watchdogs?: { softLockupS: number; rcuStallS: number; hungTaskS: number };
  qemuArgv: string[];
  /** QEMU start → guest answering over ssh, wall clock (0: the run started in a guest kept up from an earlier cell). */
  bootMs: number | null;
  /**
   * Set when the run started in a guest that an earlier run booted and left
   * clean: that run's console.log holds the boot (QEMU keeps writing it for
   * the guest's whole life); this run's console.log starts where it took over.
   */
  guest?: { reusedFrom: string; reusedFromDir: string; cellsBefore: number };
  /** The kernel's own boot → init time, from its console timestamps. */
  kernelInitMs: number | null;
  tests: TestResult[];
  crashes: CrashReport[];
}

export type RunPhase = 'prepare' | 'boot' | 'test' | 'teardown' | 'done';

/** What a run was asked to do, in a form that can be stored, compared and rerun. */
export interface PlanSummary {
  /** Stable identity of the cell (kernel + image + topology + suite + tests + params), for history across nights. */
  cellKey: string;
  suite: string;
  tests: string[];
  /** The kernel as chosen (stock package, source + series + config, or a path). */
  kernel: Record<string, unknown>;
  image: string;
  params: Record<string, string | number | boolean>;
  /** How many times the tests were run in this guest. */
  repeat: number;
}

// ---- Crash-oracle detail shapes (added for oracle/; all optional on CrashReport so
// producers that only know type/title stay valid). ----

/** One stack frame as printed by the kernel, optionally enriched by a symbolizer. */
export interface Frame {
  /** Function name as printed (suffixes such as .isra.0 kept; see `norm`). */
  fn: string;
  /** Function name with .isra/.constprop/.part/.cold/.llvm suffixes removed. */
  norm: string;
  offset: number | null;
  size: number | null;
  module: string | null;
  /** False for `? ` frames and `(unreliable)` ones. */
  reliable: boolean;
  /** True when the line marks the frame as inlined (`[inline]`) or the symbolizer found it inlined. */
  inline: boolean;
  /** `file:line` when printed (decoded stacks) or filled in by a symbolizer. */
  file: string | null;
  line: number | null;
  /** Which trace it came from: 'rip', 'stack', 'alloc', 'free', 'lockdep', ... */
  section: string;
  /** For a symbolized frame: the inlined callees found at this address, innermost first. */
  inlined?: Frame[];
}

export interface PageDump {
  /** Which printing code produced it, guessed from the keys seen. */
  format: '6.1' | '6.2-6.8' | '6.9+' | '6.11+' | 'later' | 'unknown';
  page: string | null;
  refcount: number | null;
  mapcount: number | null;
  mapping: string | null;
  index: string | null;
  pfn: string | null;
  head: string | null;
  order: number | null;
  compoundMapcount: number | null;
  compoundPincount: number | null;
  entireMapcount: number | null;
  /** The folio-wide mapcount printed on the 6.11+ head line. */
  folioMapcount: number | null;
  nrPagesMapped: number | null;
  pincount: number | null;
  memcg: string | null;
  aops: string | null;
  ino: string | null;
  dentry: string | null;
  /** 'anon', 'ksm' or null (file or unknown). */
  kind: 'anon' | 'ksm' | null;
  flagsRaw: string | null;
  flags: string[];
  node: number | null;
  zone: number | null;
  cma: boolean;
  pageType: string | null;
  raw: string[];
  headRaw: string[];
  poisoned: boolean;
  pageDoesNotMatchFolio: boolean;
  /** The text after `page dumped because:` exactly as printed. */
  reason: string | null;
  /** The assertion reduced to a canonical name, e.g. folio_ref_zero_or_close_to_overflow. */
  assertion: string | null;
  /** The macro that printed it (VM_BUG_ON_FOLIO, VM_WARN_ON_ONCE_PAGE, ...) when there was one. */
  assertMacro: string | null;
}

export interface TaintInfo {
  /** The /proc/sys/kernel/tainted value, when known. */
  value: number | null;
  /** Letters as the kernel prints them (without the blanks). */
  letters: string;
  names: string[];
}

export interface CrashHeader {
  cpu: number | null;
  pid: number | null;
  uid: number | null;
  comm: string | null;
  tainted: TaintInfo | null;
  kernelVersion: string | null;
  hardware: string | null;
}

// ---- Bisection (bisect.json): written by workflows/bisect, read by the CLI and reporters. ----

/** What a bisection concluded. */
export type BisectStatus =
  /** One patch, verified both ways, at or above the target confidence. */
  | 'culprit'
  /** One patch named, but verification disagreed or was impossible, or the confidence is below target. */
  | 'unconfirmed'
  /**
   * One patch named at the target confidence, its parent clean and itself bad,
   * but no check could be made because of the tree's shape: the series
   * without it does not apply and its revert conflicts (later patches touch
   * its lines), and its parent could not stand alone within --max-runs.
   */
  | 'unverifiable'
  /** Skipped steps leave several candidates. */
  | 'range'
  /** The bad end did not show the bug twice within the run budget. */
  | 'not-reproduced'
  /** The bug shows too rarely for a clean verdict within the per-step run budget. */
  | 'too-rare'
  /** The good end shows the bug too (cause: the base already crashes; fix: the end still crashes). */
  | 'no-transition'
  /** The bad end does not build or boot. */
  | 'end-untestable'
  /** A budget ran out: resumable with a larger one. */
  | 'budget'
  /** Stopped by SIGINT/SIGTERM: what was learnt so far, resumable. */
  | 'interrupted'
  | 'infra-error';

/** A step's verdict: shows the bug, clean, cannot be judged, needs more runs, not built yet. */
export type BisectVerdict = 'bug' | 'clean' | 'skip' | 'pending' | 'unbuilt';

/** A patch of the series, or a commit of the range. */
export interface BisectPatchRef {
  /** 1-based position in the series or the range. */
  number: number;
  subject: string;
  author: string;
  /** lore link from the mail's Message-Id, or the commit's Link: trailer. */
  link: string | null;
  /** For a git range. */
  commit: string | null;
}

/** One verification of the named patch: the culprit step itself, its parent, or the series without it. */
export interface BisectCheck {
  /** The step checked ("p6" = base + 6 patches, "w7" = all but patch 7, "r7" = all with patch 7 reverted), or null when it could not be built. */
  step: string | null;
  expected: 'bug' | 'clean';
  verdict: BisectVerdict | 'same-as-parent' | 'does-not-apply' | 'does-not-build';
  ok: boolean;
}

/**
 * How the named patch was checked apart from the search, in the order tried:
 * the series (or range) without it; the culprit reverted on top of the bad
 * end (as KernelCI does); the culprit alone against its parent, the parent
 * with twice the clean runs a search step needs.
 */
export type BisectVerifiedBy = 'leave-out' | 'revert' | 'isolation';

/** One check of the fallback chain: what it tried, and why it verified or could not. */
export interface BisectAttempt extends BisectCheck {
  check: BisectVerifiedBy;
  why: string;
}

export interface BisectVerification {
  culprit: BisectCheck;
  parent: BisectCheck;
  /** The check the result rests on: the one that verified, else the last one tried. */
  leaveOut: BisectCheck;
  agrees: boolean;
  /** Which check verified the culprit, or null when none could (the attempts say why). Absent in records written before the chain. */
  by?: BisectVerifiedBy | null;
  attempts?: BisectAttempt[];
}

export interface BisectCrashRef {
  title: string;
  matchKey: string;
  /** Where the crash's evidence lives (run dir, console log), when the environment said. */
  ref: string | null;
}

export interface BisectStepRecord {
  step: string;
  label: string;
  /** The last patch applied (prefix step) or the one left out. */
  patch: BisectPatchRef | null;
  build: {
    ok: boolean;
    failure: 'apply' | 'build' | null;
    reason: string;
    imageHash: string | null;
    /** Another step that built the very same kernel (its runs count for both). */
    sameKernelAs: string | null;
    /** Same kernel as the step before it: the patch changes nothing that is built. */
    noop: boolean;
  } | null;
  verdict: BisectVerdict;
  why: string;
  runs: number;
  passes: number;
  matching: number;
  /** matching / (matching + clean runs), when any ran. */
  rate: number | null;
  crashes: Array<BisectCrashRef & { count: number; matching: boolean }>;
  failures: Record<string, number>;
  bootFailures: Record<string, number>;
  infra: number;
  boots: number;
}

/** One action of the bisection, with the running confidence after it. */
export interface BisectEventRecord {
  seq: number;
  step: string;
  action: 'build' | 'test';
  detail: string;
  verdict: BisectVerdict;
  /** Lower bound on the reproduction rate at this point (0 before the bad end is measured). */
  rate: number;
  confidence: number;
  at: string;
}

export interface BisectRecord {
  schema: 1;
  id: string;
  status: BisectStatus;
  reason: string;
  direction: 'cause' | 'fix';
  input: {
    kind: 'series' | 'range';
    /** The series file/dir, or "GOOD..BAD". */
    spec: string;
    /** Kernel source (debian:X.Y or a tree path). */
    source: string;
    tests: string[];
    patches: number;
  };
  /** What counted as the bug. */
  bad: { meaning: 'match' | 'any-crash' | 'any-failure'; matchKey: string | null; title: string | null };
  culprit: BisectPatchRef | null;
  /** For a range: every patch it could be. */
  candidates: BisectPatchRef[];
  /** Probability that no clean verdict was a missed bug, at the lower rate bound. */
  confidence: number;
  confident: boolean;
  targetConfidence: number;
  rate: { hits: number; trials: number; estimate: number; lower: number; level: number };
  /** The matching crash on the bad end and on the culprit, side by side. */
  crashes: { badEnd: BisectCrashRef | null; culprit: BisectCrashRef | null };
  verification: BisectVerification | null;
  steps: BisectStepRecord[];
  used: { builds: number; boots: number; runs: number };
  log: BisectEventRecord[];
  startedAt: string;
  endedAt: string | null;
}
