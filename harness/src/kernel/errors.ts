// Errors the kernel pipeline raises for bad input or failed steps. Each one
// carries a short statement of what went wrong and what the user can do, so
// the CLI can print a single line without knowing which stage failed.

export class KernelPipelineError extends Error {
  constructor(
    /** What went wrong, one clause, no trailing period. */
    readonly what: string,
    /** What to do about it, one clause. */
    readonly hint: string,
    /** Structured details for --json output and for callers that react to them. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(`${what} — ${hint}`);
    this.name = new.target.name;
  }
}

export class SourceError extends KernelPipelineError {}
export class SeriesError extends KernelPipelineError {}
export class ConfigError extends KernelPipelineError {}
export class BuildError extends KernelPipelineError {}

/** A patch that `git am` refused; the worktree has been put back to the base commit. */
export class PatchApplyError extends SeriesError {
  constructor(
    readonly patch: { number: number; total: number; subject: string },
    readonly file: string | null,
    readonly hunk: string | null,
    readonly gitOutput: string,
  ) {
    const where = [file ? `file ${file}` : null, hunk ? `hunk ${hunk}` : null].filter(Boolean).join(', ');
    super(
      `patch ${patch.number}/${patch.total} "${patch.subject}" does not apply${where ? ` (${where})` : ''}`,
      'rebase the series onto the chosen --ref/--source, or pick the base it was written for; the tree was left at the base commit',
      { patch, file, hunk },
    );
  }
}
