/**
 * The system tools the tests, the demo and the benchmark use, each with the Debian package that
 * provides it: one list, read by `npm run setup` (which installs what is missing) and by the
 * tests' preflight (which fails at once, naming the tool, its package and the setup command).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export interface SystemTool {
  /** What a person calls it. */
  name: string;
  /** The Debian (and Ubuntu) package that provides it. */
  debianPackage: string;
  /** What it is needed for, said in a failure. */
  neededFor: string;
  /** Whether it is there on this machine. */
  present: () => boolean;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .filter(Boolean)
    .some((directory) => executable(`${directory}/${command}`));
}

function pythonImports(module: string): boolean {
  // Debian's packages are visible to Debian's interpreter only, not to a python3 earlier on PATH.
  const result = spawnSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore' });
  return result.status === 0;
}

export const systemTools = {
  sshd: {
    name: "OpenSSH's server (/usr/sbin/sshd)",
    debianPackage: 'openssh-server',
    neededFor: "the test cluster's SSH pods, which expose and its tests run",
    present: () => executable('/usr/sbin/sshd'),
  },
  ssh: {
    name: "OpenSSH's client (ssh, ssh-keygen)",
    debianPackage: 'openssh-client',
    neededFor: 'checking keys with ssh-keygen and the OpenSSH side of the benchmark',
    present: () => onPath('ssh') && onPath('ssh-keygen'),
  },
  chromium: {
    name: 'Chromium (/usr/bin/chromium)',
    debianPackage: 'chromium',
    neededFor: "the window's end-to-end tests",
    present: () => executable('/usr/bin/chromium'),
  },
  pythonKubernetes: {
    name: "Python's Kubernetes client (/usr/bin/python3 -c 'import kubernetes')",
    debianPackage: 'python3-kubernetes',
    neededFor: "the test cluster's conformance tests",
    present: () => pythonImports('kubernetes'),
  },
  python3: {
    name: 'Python 3 (/usr/bin/python3)',
    debianPackage: 'python3',
    neededFor: "the test cluster's Python image, which runs connect's relay pods",
    present: () => executable('/usr/bin/python3'),
  },
  redis: {
    name: "Redis's server and redis-cli (/usr/bin/redis-check-rdb, which is the server by another name)",
    debianPackage: 'redis-tools',
    neededFor: "the test cluster's Redis image (the demo's cache/redis) and a real Redis client in the tests",
    present: () => executable('/usr/bin/redis-check-rdb') && onPath('redis-cli'),
  },
  curl: {
    name: 'curl (with HTTP/2)',
    debianPackage: 'curl',
    neededFor: 'a real HTTP/1.1 and h2c client in the personal intercept tests',
    present: () => onPath('curl'),
  },
  haproxy: {
    name: 'HAProxy (/usr/sbin/haproxy)',
    debianPackage: 'haproxy',
    neededFor: "the test cluster's HAProxy image, which runs a personal intercept's router",
    present: () => executable('/usr/sbin/haproxy'),
  },
  netcat: {
    name: 'OpenBSD netcat (nc, with -N to shut down its sending side)',
    debianPackage: 'netcat-openbsd',
    neededFor: 'a real client that sends and then half-closes, in the half-close tests',
    present: () => {
      if (!onPath('nc')) return false;
      // Other netcats (traditional, ncat) are also `nc`, without -N.
      const help = spawnSync('nc', ['-h'], { encoding: 'utf8' });
      return `${help.stdout}${help.stderr}`.includes('-N');
    },
  },
  kubectl: {
    name: 'kubectl',
    debianPackage: 'kubernetes-client',
    neededFor: "the test cluster's conformance tests and the benchmark",
    present: () => onPath('kubectl'),
  },
  utilLinux: {
    name: 'unshare, nsenter and setpriv',
    debianPackage: 'util-linux',
    neededFor: 'the sandboxes that keep tests off /etc/hosts, and SSH pods',
    present: () => ['unshare', 'nsenter', 'setpriv'].every(onPath),
  },
  iproute2: {
    name: 'ip',
    debianPackage: 'iproute2',
    neededFor: 'loopback addresses inside network-namespace sandboxes',
    present: () => onPath('ip'),
  },
  procps: {
    name: 'ps and pgrep',
    debianPackage: 'procps',
    neededFor: 'checking that no process is left behind',
    present: () => onPath('ps') && onPath('pgrep'),
  },
  git: {
    name: 'git',
    debianPackage: 'git',
    neededFor: 'checking that `localizer env --output` refuses a file git could commit',
    present: () => onPath('git'),
  },
  sudo: {
    name: 'sudo (/usr/bin/sudo)',
    debianPackage: 'sudo',
    neededFor: 'starting the privileged helper as a user would',
    present: () => executable('/usr/bin/sudo'),
  },
} as const satisfies Record<string, SystemTool>;

export type SystemToolName = keyof typeof systemTools;

/** The command that installs every missing tool. */
export const setupCommand = 'npm run setup';

/** The tools of `names` that are missing on this machine. */
export function missingTools(names: readonly SystemToolName[]): SystemTool[] {
  return names.map((name) => systemTools[name]).filter((tool) => !tool.present());
}

/** Why a run cannot go on without `missing`, and how to fix it. */
export function missingToolsMessage(missing: readonly SystemTool[]): string {
  const lines = missing.map(
    (tool) => `- ${tool.name}, for ${tool.neededFor}: Debian/Ubuntu package ${tool.debianPackage}`,
  );
  return [
    `This machine lacks ${missing.length === 1 ? 'a tool' : 'tools'} these tests need:`,
    ...lines,
    `Run \`${setupCommand}\` to install ${missing.length === 1 ? 'it' : 'them'} (apt-get install ${missing
      .map((tool) => tool.debianPackage)
      .join(' ')}).`,
  ].join('\n');
}

/** Throws at once, naming each missing tool, its package and the setup command. */
export function requireSystemTools(...names: SystemToolName[]): void {
  const missing = missingTools(names);
  if (missing.length > 0) throw new MissingSystemToolError(missingToolsMessage(missing));
}

export class MissingSystemToolError extends Error {
  override name = 'MissingSystemToolError';
}
