// Every environment variable the harness reads, in one place: its meaning and
// its default. Code reads the environment only through envValue() here, so
// this list is the whole truth; docs/environment.md is generated from it
// (npm run docs:env) and a unit test fails when that page is stale or when
// a file under harness/src reads a variable this list does not name.
// Variables the harness only sets for a child (GIT_INDEX_FILE for git, HOME
// inside the sandbox) are not reads and are not listed.

export interface EnvVar {
  /** What it changes, in a sentence or two (markdown). */
  meaning: string;
  /** What the harness does when it is unset or empty. */
  default: string;
  /** For the harness's own tests, not for users: listed apart. */
  testOnly?: boolean;
}

export const ENV_VARS = {
  DAX_HARNESS_CACHE: {
    meaning: 'Cache root: kernels, images, build trees, ccache, run work directories. Put it on a disk with room (a kernel tree takes about 3.5 GB).',
    default: '`$XDG_CACHE_HOME/dax-harness`, else `~/.cache/dax-harness`',
  },
  XDG_CACHE_HOME: {
    meaning: 'The XDG cache directory; the cache is `dax-harness/` under it when `DAX_HARNESS_CACHE` is unset.',
    default: '`~/.cache`',
  },
  DAX_HARNESS_RESULTS: {
    meaning: 'Where run and night directories go when a command is given no `--results`.',
    default: '`results/` in the repository',
  },
  DAX_HARNESS_CONFIGS: {
    meaning: 'The directory that `--config NAME` fragments are looked up in.',
    default: '`kernels/configs/` in the repository',
  },
  DAX_HARNESS_CONSOLE_LOG_MIB: {
    meaning: "Cap on a run's console.log in MiB (1 to 1048576); text past it is dropped with a marker line.",
    default: '256',
  },
  DAX_HARNESS_TEST_LOG_MIB: {
    meaning: "Cap on each test's log in MiB (1 to 1048576); text past it is dropped with a marker line.",
    default: '64',
  },
  DAX_HARNESS_DEBIAN_MIRROR: {
    meaning: "The Debian mirror for stock kernels, source packages and the archive fetched over HTTP on hosts without apt (a URL ending in `/debian`; its `-security` sibling is used for security updates).",
    default: "the host's apt sources' Debian mirror, else `http://deb.debian.org/debian`",
  },
  DAX_HARNESS_SANDBOX: {
    meaning: '`0`, `off` or `no` runs builds of mailed series and QEMU without the bubblewrap sandbox (for a host whose kernel refuses user namespaces).',
    default: 'sandboxed',
  },
  DAX_HARNESS_SANDBOX_USER: {
    meaning: 'As root: the unprivileged user (a name or `uid[:gid]`) that sandboxed builds and QEMU run as.',
    default: 'the `dax-harness` system account, created on first use (`nobody` if it cannot be)',
  },
  CCACHE_DIR: {
    meaning: "ccache's store, used when the compiler is ccache.",
    default: '`ccache/` in the cache',
  },
  PATH: {
    meaning: 'Where host tools (make, gcc, qemu-system-x86_64, bwrap, git, b4) are found; `/usr/local/sbin`, `/usr/sbin` and `/sbin` are appended when missing (depmod, mkfs).',
    default: "the caller's",
  },
  TERM: {
    meaning: 'The terminal type asked for the guest shell of `shell` and `attach`.',
    default: '`xterm-256color`',
  },
  DAX_HARNESS_TEST_RUN_ID: {
    meaning: 'The id the next run directory tries first (the fault matrix forces a collision with it).',
    default: 'a fresh id',
    testOnly: true,
  },
} as const satisfies Record<string, EnvVar>;

export type EnvName = keyof typeof ENV_VARS;

/** The variable's value, or undefined when it is unset or empty (empty means "use the default" for every one). */
export function envValue(name: EnvName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** docs/environment.md: the page `npm run docs:env` writes. */
export function environmentDoc(): string {
  const row = ([name, v]: [string, EnvVar]) => `| \`${name}\` | ${v.meaning.replace(/\|/g, '\\|')} | ${v.default.replace(/\|/g, '\\|')} |`;
  const all = Object.entries(ENV_VARS) as Array<[string, EnvVar]>;
  const head = ['| variable | meaning | default (unset or empty) |', '|---|---|---|'];
  return [
    '# Environment variables',
    '',
    '<!-- Generated from harness/src/host/env.ts by `npm run docs:env`: edit that file, not this one. -->',
    '',
    'Every variable dax-harness reads. Command-line options win over these where both exist',
    '(`--results` over `DAX_HARNESS_RESULTS`).',
    '',
    ...head,
    ...all.filter(([, v]) => !v.testOnly).map(row),
    '',
    "## For the harness's own tests",
    '',
    ...head,
    ...all.filter(([, v]) => v.testOnly).map(row),
    '',
  ].join('\n');
}
