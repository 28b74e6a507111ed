// `npm test`'s first step (npm runs the pretest script before test): the
// host packages of test/host-packages.txt. As root the missing ones are
// installed, as the harness does for its own commands; otherwise the one
// apt-get line is printed and the test command stops (exit 2) before
// hundreds of tests fail for a missing tool. Hosts without dpkg are told
// the list and go on: their package names differ.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const file = new URL('./host-packages.txt', import.meta.url);
const wanted = readFileSync(file, 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .flatMap((l) => (l ? l.split(/\s+/) : []));

function missing(): string[] {
  const q = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...wanted], { encoding: 'utf8' });
  const installed = new Set(
    q.stdout
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([, s]) => s === 'installed')
      .map(([p]) => p),
  );
  return wanted.filter((p) => !installed.has(p));
}

if (spawnSync('dpkg-query', ['--version']).status !== 0) {
  console.error(`npm test: no dpkg on this host: make sure the equivalents of these Debian packages are installed: ${wanted.join(' ')}`);
  process.exit(0);
}
let lack = missing();
if (lack.length) {
  const line = `apt-get install -y --no-install-recommends ${lack.join(' ')}`;
  if (process.getuid?.() !== 0) {
    console.error(`npm test: missing host packages ${lack.join(', ')}: run as root: ${line}`);
    process.exit(2);
  }
  console.error(`npm test: installing host packages: ${lack.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...lack], { stdio: 'inherit', env });
  lack = missing();
  if (lack.length) {
    console.error(`npm test: could not install ${lack.join(', ')}: run ${line} and read its error`);
    process.exit(2);
  }
}
