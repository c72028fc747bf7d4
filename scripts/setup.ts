/**
 * `npm run setup`: installs the system packages the tests, the demo and the benchmark need
 * (apt on Debian and Ubuntu, with sudo when not root), and does nothing when they are there. On
 * other systems it names the packages and exits non-zero. Only OS packages are downloaded.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { missingTools, systemTools, type SystemToolName } from '../e2e/support/system-tools';

function say(message: string): void {
  process.stdout.write(`setup: ${message}\n`);
}

function fail(message: string): never {
  process.stderr.write(`setup: ${message}\n`);
  process.exit(1);
}

function isDebianLike(): boolean {
  try {
    const release = readFileSync('/etc/os-release', 'utf8');
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(release);
  } catch {
    return false;
  }
}

function runAsRoot(command: string[]): void {
  const isRoot = process.getuid?.() === 0;
  const argv = isRoot ? command : ['sudo', ...command];
  say(`running ${argv.join(' ')}`);
  // apt's progress is kept back unless it fails: then its last lines say why.
  const result = spawnSync(argv[0] ?? 'sudo', argv.slice(1), {
    stdio: ['inherit', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) fail(`cannot run ${argv[0] ?? ''}: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${result.stdout.toString()}${result.stderr.toString()}`.trimEnd().split('\n');
    process.stderr.write(`${output.slice(-40).join('\n')}\n`);
    fail(
      `\`${argv.join(' ')}\` failed (exit ${String(result.status)}).${isRoot ? '' : ' Run it yourself as root, then run `npm run setup` again.'}`,
    );
  }
}

const names = Object.keys(systemTools) as SystemToolName[];
const missing = missingTools(names);
if (missing.length === 0) {
  say('every system tool the tests need is installed');
  process.exit(0);
}
const packages = [...new Set(missing.map((tool) => tool.debianPackage))];
for (const tool of missing)
  say(`missing ${tool.name}, for ${tool.neededFor} (package ${tool.debianPackage})`);

if (process.platform !== 'linux' || !isDebianLike()) {
  fail(
    [
      `this system is not Debian or Ubuntu, so nothing was installed.`,
      `The tests run on Linux (they use mount and network namespaces). Install the equivalents of these Debian packages with your package manager: ${packages.join(' ')},`,
      'then run `npm run setup` again to check.',
    ].join('\n'),
  );
}
if (process.getuid?.() !== 0 && spawnSync('sudo', ['--version'], { stdio: 'ignore' }).status !== 0)
  fail(
    `installing needs root and this machine has no sudo: as root, run apt-get install ${packages.join(' ')}`,
  );

runAsRoot(['apt-get', 'update', '-qq']);
runAsRoot(['apt-get', 'install', '-y', '-qq', ...packages]);

const stillMissing = missingTools(names);
if (stillMissing.length > 0)
  fail(`still missing after the install: ${stillMissing.map((tool) => tool.name).join(', ')}`);
say(`installed ${packages.join(' ')}; every system tool the tests need is there`);
