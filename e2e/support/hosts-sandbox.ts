/**
 * Running Localizer as root in a private mount namespace whose /etc/hosts is a temp file, so its
 * names, helper and socket never touch the machine. Needs real root (a mount namespace that
 * shares the host's network, so the cluster and the forwards stay reachable).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
  const hostsFile = join(root, 'hosts');
  writeFileSync(hostsFile, original);
  const socketDirectory = join(root, 'run');
  mkdirSync(socketDirectory, { mode: 0o711 });
  return { hostsFile, socketDirectory, stateDirectory: join(root, 'state') };
}

/** The command line that runs `command args…` inside the sandbox. */
export function inHostsSandbox(
  sandbox: HostsSandbox,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  return {
    command: 'unshare',
    args: [
      ...['--mount', '--propagation', 'private', '--fork', '--kill-child', '--'],
      ...['sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', sandbox.hostsFile, command, ...args],
    ],
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
