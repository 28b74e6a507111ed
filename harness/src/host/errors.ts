// The harness's error hierarchy, in two halves that the CLI maps to exit codes
// in one place (cli/exit.ts):
// - InputError: anything the user can fix by changing the command line, a file
//   they pointed at, or their host setup (exit 2, one line naming the fix);
// - InfraError: good input, but the machine or a tool under the harness failed
//   (a download, an image build, a full disk, a guest environment): exit 3.
// Anything else that escapes is a harness bug: exit 3 with its stack.

export class InputError extends Error {
  /**
   * The message as pieces: plain text and references to the settings it
   * names (withSettings). A plain string is one piece. `message` calls each
   * setting by its bare key; each reader may spell them its own way
   * (`spelled`): the CLI by the flag (cli/exit.ts), a nightly cell by its
   * config key.
   */
  readonly text: SettingText;

  constructor(message: string | SettingText, options?: ErrorOptions) {
    const text = typeof message === 'string' ? [message] : message;
    super(spellSettings(text, (k) => k), options);
    this.text = text;
    this.name = new.target.name;
  }

  /** The message with each setting spelled by `spell`. */
  spelled(spell: (key: string) => string): string {
    return spellSettings(this.text, spell);
  }
}

/**
 * Bad input in one setting of a plan. A workflow says it by the setting's
 * name ("the ssh port 22 is taken ..."), knowing nothing of flags; the CLI
 * says it by the flag that gave it (`named`), so the user reads the word
 * they typed.
 */
export class SettingError extends InputError {
  constructor(
    /** The plan field it is about (sshPort, repeat). */
    readonly setting: string,
    /** How the setting reads in prose ("the ssh port"). */
    what: string,
    readonly value: unknown,
    /** What is wrong and the fix, after the value ("is taken on 127.0.0.1: pick another"). */
    readonly problem: string,
  ) {
    super(`${what} ${String(value)} ${problem}`);
  }

  /** The message with the setting called by another name (a command's flag). */
  named(name: string): string {
    return `${name} ${String(this.value)} ${this.problem}`;
  }
}

/** A setting named inside an error's text, for each reader to spell its own way. */
export interface SettingRef {
  readonly setting: string;
}

export const setting = (key: string): SettingRef => ({ setting: key });

const isSettingRef = (v: unknown): v is SettingRef => typeof v === 'object' && v !== null && typeof (v as SettingRef).setting === 'string';

/** Text with settings in it: plain pieces and setting references, in order. */
export type SettingText = ReadonlyArray<string | SettingRef>;

/** A template tag: `${setting('mem')}` in it stays a reference (and a SettingText its pieces); everything else becomes text. */
export function withSettings(strings: TemplateStringsArray, ...values: unknown[]): SettingText {
  const out: Array<string | SettingRef> = [];
  strings.forEach((s, i) => {
    out.push(s);
    if (i >= values.length) return;
    const v = values[i];
    // A SettingText inside another keeps its references.
    if (Array.isArray(v) && v.every((p) => typeof p === 'string' || isSettingRef(p))) out.push(...(v as SettingText));
    else out.push(isSettingRef(v) ? v : String(v));
  });
  return out;
}

/**
 * Bad input whose text names settings of a plan (the topology's cpus, mem,
 * memmap ...), worded without knowing how the user gave them. Any InputError
 * may carry setting references; this one always does.
 */
export class SettingsError extends InputError {
  constructor(text: SettingText, options?: ErrorOptions) {
    super(text, options);
  }
}

export function spellSettings(text: string | SettingText, spell: (key: string) => string): string {
  if (typeof text === 'string') return text;
  return text.map((p) => (typeof p === 'string' ? p : spell(p.setting))).join('');
}

/** An error's text with the settings it names still references (a plain message for any other error), to wrap in another. */
export function textOf(e: unknown): SettingText {
  if (e instanceof InputError || e instanceof InfraError) return e.text;
  return [e instanceof Error ? e.message : String(e)];
}

export class InfraError extends Error {
  /** As InputError's: the message with the settings it names kept as references. */
  readonly text: SettingText;

  constructor(message: string | SettingText, options?: ErrorOptions) {
    const text = typeof message === 'string' ? [message] : message;
    super(spellSettings(text, (k) => k), options);
    this.text = text;
    this.name = new.target.name;
  }

  /** The message with each setting spelled by `spell`. */
  spelled(spell: (key: string) => string): string {
    return spellSettings(this.text, spell);
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
