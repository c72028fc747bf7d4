/**
 * Running Localizer in a private mount namespace whose /etc/hosts is a temp file, so its names,
 * helper and socket never touch the machine: as root, or as an unprivileged user whose helper is
 * elevated by sudo, as on a laptop. Needs real root (a mount namespace that shares the host's
 * network, so the cluster and the forwards stay reachable).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './processes';

export interface HostsSandbox {
  /** The file the sandbox sees as /etc/hosts. */
  hostsFile: string;
  /** For LOCALIZER_HELPER_SOCKET_DIR. */
  socketDirectory: string;
  /** For LOCALIZER_STATE_DIR. */
  stateDirectory: string;
}

export function createHostsSandbox(original: string): HostsSandbox {
  const root = mkdtempSync(join(tmpdir(), 'hosts-sandbox-'));
  // Passable (not listable) for a SandboxUser, whose state directory lies inside.
  chmodSync(root, 0o711);
  const hostsFile = join(root, 'hosts');
  writeFileSync(hostsFile, original);
  const socketDirectory = join(root, 'run');
  mkdirSync(socketDirectory, { mode: 0o711 });
  return { hostsFile, socketDirectory, stateDirectory: join(root, 'state') };
}

/**
 * Who runs the program in the sandbox, if not root: an unprivileged account that may start
 * exactly one command as root through the real `sudo`, by a sudoers rule that exists only in
 * the sandbox's mount namespace (the machine's sudoers is never changed).
 */
export interface SandboxUser {
  uid: number;
  gid: number;
  /** The account's name, as sudoers names it. */
  name: string;
  /** The command line (program and leading arguments) sudo may run as root without a password. */
  mayElevate: string[];
}

/** Whether `sudo` and `setpriv` exist, which running as a `SandboxUser` needs. */
export function canRunAsSandboxUser(): boolean {
  return ['/usr/bin/sudo', '/usr/bin/setpriv'].every((path) => existsSync(path));
}

/** The command line that runs `command args…` inside the sandbox, as root or as `user`. */
export function inHostsSandbox(
  sandbox: HostsSandbox,
  command: string,
  args: string[],
  user?: SandboxUser,
): { command: string; args: string[] } {
  const unshare = ['--mount', '--propagation', 'private', '--fork', '--kill-child', '--'];
  if (!user) {
    return {
      command: 'unshare',
      args: [
        ...unshare,
        'sh',
        '-c',
        'mount --bind "$0" /etc/hosts && exec "$@"',
        sandbox.hostsFile,
        command,
        ...args,
      ],
    };
  }
  const rule = `${user.name} ALL=(root) NOPASSWD: ${user.mayElevate.join(' ')} *`;
  const script = [
    'mount --bind "$0" /etc/hosts',
    'mount -t tmpfs -o mode=0755 localizer-sudoers /etc/sudoers.d',
    'printf "%s\\n" "$1" > /etc/sudoers.d/localizer-sandbox',
    'chmod 0440 /etc/sudoers.d/localizer-sandbox',
    'shift',
    `exec setpriv --reuid=${String(user.uid)} --regid=${String(user.gid)} --clear-groups -- "$@"`,
  ].join(' && ');
  return {
    command: 'unshare',
    args: [...unshare, 'sh', '-c', script, sandbox.hostsFile, rule, command, ...args],
  };
}

export function sandboxEnvironment(sandbox: HostsSandbox): NodeJS.ProcessEnv {
  return {
    LOCALIZER_STATE_DIR: sandbox.stateDirectory,
    LOCALIZER_HELPER_SOCKET_DIR: sandbox.socketDirectory,
  };
}

/** The pid of the program unshare runs (sh exec'd into it): where Ctrl-C must land. */
export async function sandboxedPid(unsharePid: number): Promise<number> {
  const children = (await run('ps', ['-o', 'pid=', '--ppid', String(unsharePid)])).stdout.trim().split('\n');
  return Number(children[0]);
}
