// Errors the kernel pipeline raises. Each one carries a short statement of
// what went wrong and what the user can do, so the CLI can print a single
// line without knowing which stage failed. Bad input (a source, ref, series or
// config fragment the user gave) is an InputError, found before anything is
// downloaded where it can be; a step that failed on good input (a download,
// a compile) is a KernelPipelineError.
import { InfraError, InputError, spellSettings, withSettings, type SettingText } from '../host/errors.ts';
import { REF, SOURCE } from './settings.ts';

const bare = (t: string | SettingText): string => spellSettings(t, (k) => k);

type Details = Record<string, unknown>;

export class KernelPipelineError extends InfraError {
  /** What went wrong, one clause, no trailing period (settings by their bare key). */
  readonly what: string;
  /** What to do about it, one clause (settings by their bare key). */
  readonly hint: string;
  constructor(
    /** What went wrong; may name settings (withSettings), for the CLI to spell as flags. */
    readonly whatText: string | SettingText,
    /** What to do about it, likewise. */
    readonly hintText: string | SettingText,
    /** Structured details for --json output and for callers that react to them. */
    readonly details: Details = {},
  ) {
    super(withSettings`${whatText} — ${hintText}`);
    this.what = bare(whatText);
    this.hint = bare(hintText);
    this.name = new.target.name;
  }
}

/** The user's kernel input is wrong: same shape as KernelPipelineError, exit 2. */
export class KernelInputError extends InputError {
  readonly what: string;
  readonly hint: string;
  constructor(
    readonly whatText: string | SettingText,
    readonly hintText: string | SettingText,
    readonly details: Details = {},
  ) {
    super(withSettings`${whatText} — ${hintText}`);
    this.what = bare(whatText);
    this.hint = bare(hintText);
  }
}

export class SourceError extends KernelInputError {}
export class SeriesError extends KernelInputError {}
export class ConfigError extends KernelInputError {}
/** make, depmod or a module build failed. */
export class BuildError extends KernelPipelineError {}
/** A download, a package-list update or a source import failed. */
export class FetchError extends KernelPipelineError {}

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
      withSettings`rebase the series onto the chosen ${REF}/${SOURCE}, or pick the base it was written for; the tree was left at the base commit`,
      { patch, file, hunk },
    );
  }
}
