/**
 * Starts one container as a real local process. Test images run as Node programs bound to the
 * pod's IP; the OpenSSH image runs the real `sshd` in a private mount namespace where the pod's
 * volumes are bind-mounted at their mountPaths, as the pod's user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Container } from '../api/objects';
import type { ImageRuntime } from './images';

export interface MountSpec {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerLaunch {
  container: Container;
  runtime: ImageRuntime;
  env: Record<string, string>;
  mounts: MountSpec[];
  podIp: string;
  /** The pod's /etc/hosts (its DNS view), mounted over the host's for namespaced runtimes. */
  hostsFile?: string;
  user: { uid: number; gid: number; groups: number[] };
  workDirectory: string;
}

const supervisor = fileURLToPath(new URL('../images/supervise.mjs', import.meta.url));
const isRoot = process.getuid?.() === 0;

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

function nearestExistingAncestor(path: string): string {
  let current = dirname(path);
  while (!existsSync(current)) current = dirname(current);
  return current;
}

/** The shell script that runs inside the container's mount namespace. */
function namespacedScript(launch: ContainerLaunch, command: string[]): string {
  const lines = ['set -e', 'mkdir -p /run/sshd'];
  // Overlays first: an overlay on a directory would hide binds made inside it earlier.
  const overlaid = new Set<string>();
  launch.mounts.forEach((mount, index) => {
    if (existsSync(mount.target)) return;
    // Make room for a mountPath that the host lacks, without touching the host: an overlay whose
    // writable layer lives in the pod's directory.
    const ancestor = nearestExistingAncestor(mount.target);
    if (overlaid.has(ancestor)) return;
    const layer = join(launch.workDirectory, 'overlay', String(index));
    lines.push(
      `mkdir -p ${shellQuote(`${layer}/upper`)} ${shellQuote(`${layer}/work`)}`,
      `mount -t overlay overlay -o ${shellQuote(`lowerdir=${ancestor},upperdir=${layer}/upper,workdir=${layer}/work`)} ${shellQuote(ancestor)}`,
    );
    overlaid.add(ancestor);
  });
  for (const mount of launch.mounts) {
    if (!existsSync(mount.target)) lines.push(`mkdir -p ${shellQuote(mount.target)}`);
    lines.push(`mount --bind ${shellQuote(mount.source)} ${shellQuote(mount.target)}`);
    if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${shellQuote(mount.target)}`);
  }
  const argv = command.map(shellQuote).join(' ');
  // As a container runtime does: the container's workingDir, else the image's WORKDIR (a
  // process that changes directory and back, as HAProxy does, needs one it may enter).
  const workingDirectory =
    launch.container.workingDir ??
    (launch.runtime.kind === 'host-command' ? launch.runtime.workingDirectory : undefined);
  if (workingDirectory) lines.push(`cd ${shellQuote(workingDirectory)}`);
  const { uid, gid, groups } = launch.user;
  if (uid !== 0 && isRoot) {
    const extra = groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups';
    lines.push(`exec setpriv --reuid=${uid} --regid=${gid} ${extra} -- ${argv}`);
  } else {
    lines.push(`exec ${argv}`);
  }
  return lines.join('\n');
}

/**
 * The image's own account files: the host's, plus the image's accounts with an empty password
 * field (sshd refuses locked accounts when it runs without PAM; password logins stay off).
 */
function imageAccountMounts(launch: ContainerLaunch, accounts: Record<string, number>): MountSpec[] {
  const directory = join(launch.workDirectory, 'image-etc');
  mkdirSync(directory, { recursive: true });
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      // /etc/shadow is unreadable when the cluster runs unprivileged; the image's accounts suffice.
      return '';
    }
  };
  const entries = Object.entries(accounts);
  const files = {
    passwd:
      read('/etc/passwd') +
      entries.map(([name, id]) => `${name}:x:${id}:${id}:${name}:/tmp:/bin/sh\n`).join(''),
    group: read('/etc/group') + entries.map(([name, id]) => `${name}:x:${id}:\n`).join(''),
    shadow: read('/etc/shadow') + entries.map(([name]) => `${name}::19000:0:99999:7:::\n`).join(''),
  };
  return Object.entries(files).map(([name, content]) => {
    const source = join(directory, name);
    writeFileSync(source, content, { mode: name === 'shadow' ? 0o600 : 0o644 });
    return { source, target: `/etc/${name}`, readOnly: true };
  });
}

/** sshd re-executes itself and must be started by absolute path; it listens on the pod's IP only. */
function opensshCommand(launch: ContainerLaunch, defaultCommand: string[]): string[] {
  const command = [...(launch.container.command ?? defaultCommand), ...(launch.container.args ?? [])];
  if (command[0] === 'sshd') command[0] = '/usr/sbin/sshd';
  if (command[0]?.endsWith('/sshd')) command.splice(1, 0, '-o', `ListenAddress=${launch.podIp}`);
  return command;
}

/** A directory in the pod's own space with a link per alias, for the front of its PATH. */
function aliasDirectory(launch: ContainerLaunch, aliases: Record<string, string>): string {
  const directory = join(launch.workDirectory, 'image-bin');
  mkdirSync(directory, { recursive: true });
  for (const [name, target] of Object.entries(aliases)) {
    const link = join(directory, name);
    if (!existsSync(link)) symlinkSync(target, link);
  }
  return directory;
}

/** Spawns the container's process; its stdout and stderr are piped for logs. */
export function spawnContainer(launch: ContainerLaunch): ChildProcess {
  const { runtime } = launch;
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...launch.env };
  if (runtime.kind === 'node-program') {
    return spawn(process.execPath, [runtime.script], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: launch.workDirectory,
    });
  }
  const hostsMount: MountSpec[] = launch.hostsFile
    ? [{ source: launch.hostsFile, target: '/etc/hosts', readOnly: true }]
    : [];
  const script =
    runtime.kind === 'openssh'
      ? namespacedScript(
          {
            ...launch,
            mounts: [...imageAccountMounts(launch, runtime.accounts), ...hostsMount, ...launch.mounts],
          },
          opensshCommand(launch, runtime.defaultCommand),
        )
      : namespacedScript({ ...launch, mounts: [...hostsMount, ...launch.mounts] }, [
          ...(launch.container.command ?? runtime.defaultCommand ?? []),
          ...(launch.container.args ?? []),
        ]);
  if (runtime.kind === 'host-command' && runtime.aliases)
    env.PATH = `${aliasDirectory(launch, runtime.aliases)}:${env.PATH}`;
  // A PID namespace, as a container has: when sshd (its init) exits, the kernel ends every
  // process in it, including per-connection sshd children, which leave the process group (setsid).
  const namespaceFlags = isRoot
    ? ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child']
    : ['--user', '--map-root-user', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child'];
  return spawn(process.execPath, [supervisor, 'unshare', ...namespaceFlags, '--', '/bin/sh', '-c', script], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: launch.workDirectory,
  });
}
