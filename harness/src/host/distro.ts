// The host's distribution family, from /etc/os-release, and the name each
// family gives the packages the harness needs: the install line the harness
// prints must be one the user can paste. The needs tables (apt.ts and its
// callers) are written in Debian's names; this maps them.
import { readFileSync } from 'node:fs';

export type Family = 'debian' | 'fedora' | 'arch' | 'unknown';

/** os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    out.set(m[1]!, m[2]!.replace(/^(["'])(.*)\1$/, '$2'));
  }
  return out;
}

/** Ubuntu and other derivatives name their parent in ID_LIKE. */
export function familyOf(osRelease: Map<string, string>): Family {
  const ids = [osRelease.get('ID') ?? '', ...(osRelease.get('ID_LIKE') ?? '').split(/\s+/)].map((s) => s.toLowerCase());
  if (ids.some((i) => i === 'debian' || i === 'ubuntu')) return 'debian';
  if (ids.some((i) => i === 'fedora' || i === 'rhel' || i === 'centos')) return 'fedora';
  if (ids.some((i) => i === 'arch' || i === 'archlinux')) return 'arch';
  return 'unknown';
}

/** Debian itself, not a derivative that names it in ID_LIKE. */
export function isDebianProper(osRelease: Map<string, string>): boolean {
  return (osRelease.get('ID') ?? '').toLowerCase() === 'debian';
}

let hostFamilyValue: Family | undefined;
let hostDebianValue = false;

/**
 * Whether this host is Debian itself, not a derivative: only then does its apt
 * know Debian's kernel packages (Ubuntu's apt-get has no linux-image-amd64).
 */
export function hostIsDebian(): boolean {
  hostFamily();
  return hostDebianValue;
}

export function hostFamily(): Family {
  if (hostFamilyValue === undefined) {
    let text = '';
    for (const f of ['/etc/os-release', '/usr/lib/os-release']) {
      try {
        text = readFileSync(f, 'utf8');
        break;
      } catch {
        // the next one
      }
    }
    const release = parseOsRelease(text);
    hostDebianValue = isDebianProper(release);
    hostFamilyValue = familyOf(release);
  }
  return hostFamilyValue;
}

/** Debian package → [Fedora, Arch] package providing the same files. Names not listed are the same everywhere. */
const NAMES: Record<string, [fedora: string, arch: string]> = {
  'qemu-system-x86': ['qemu-system-x86-core', 'qemu-system-x86'],
  'qemu-utils': ['qemu-img', 'qemu-img'],
  'libc6-dev': ['glibc-static', 'glibc'],
  'libelf-dev': ['elfutils-libelf-devel', 'libelf'],
  'libssl-dev': ['openssl-devel', 'openssl'],
  'xz-utils': ['xz', 'xz'],
  'busybox-static': ['busybox', 'busybox'],
  'dropbear-bin': ['dropbear', 'dropbear'],
  daxctl: ['daxctl', 'ndctl'],
  uidmap: ['shadow-utils', 'shadow'],
  'ninja-build': ['ninja-build', 'ninja'],
  'pkg-config': ['pkgconf-pkg-config', 'pkgconf'],
  'libkmod-dev': ['kmod-devel', 'kmod'],
  'libjson-c-dev': ['json-c-devel', 'json-c'],
  'libiniparser-dev': ['iniparser-devel', 'iniparser'],
  'uuid-dev': ['libuuid-devel', 'util-linux-libs'],
  'libudev-dev': ['systemd-devel', 'systemd-libs'],
  udev: ['systemd-udev', 'systemd'],
  'libkeyutils-dev': ['keyutils-libs-devel', 'keyutils'],
  'libtracefs-dev': ['libtracefs-devel', 'libtracefs'],
  'libtraceevent-dev': ['libtraceevent-devel', 'libtraceevent'],
};

/** The family's name for a Debian package (Debian's versioned gcc-N is plain gcc elsewhere). */
export function packageName(debian: string, family: Family): string {
  if (family === 'debian' || family === 'unknown') return debian;
  if (/^gcc-\d+$/.test(debian)) return 'gcc';
  const m = NAMES[debian];
  return m ? m[family === 'fedora' ? 0 : 1] : debian;
}

/** The command that installs these (Debian-named) packages on the family's hosts. */
export function installLine(debianNames: string[], family: Family = hostFamily()): string {
  const names = [...new Set(debianNames.map((n) => packageName(n, family)))];
  switch (family) {
    case 'debian':
      return `apt-get install -y --no-install-recommends ${names.join(' ')}`;
    case 'fedora':
      return `dnf install -y ${names.join(' ')}`;
    case 'arch':
      return `pacman -S --needed ${names.join(' ')}`;
    default:
      return `install your distribution's packages for ${names.join(' ')} (Debian's names)`;
  }
}

/**
 * Where a file the needs tables name by its Debian path lies on other
 * families: Debian's multiarch library directory is /usr/lib64 on Fedora and
 * /usr/lib on Arch. Other paths (/usr/bin, /usr/sbin, /usr/include) are the
 * same, /usr/sbin being a link to /usr/bin where the two are merged.
 */
export function candidatePaths(debianPath: string): string[] {
  const multiarch = '/usr/lib/x86_64-linux-gnu/';
  if (!debianPath.startsWith(multiarch)) return [debianPath];
  const rest = debianPath.slice(multiarch.length);
  return [debianPath, `/usr/lib64/${rest}`, `/usr/lib/${rest}`];
}
