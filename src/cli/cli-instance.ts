/**
 * The instance a `localizer` command runs itself, when none runs yet (`daemon`, or `connect` and
 * `expose` in the foreground): names through sudo (or directly as root), the CLI's version, and
 * the environment's test and tuning hooks. `LOCALIZER_PORT_FORWARD` picks the port-forward
 * transport tried first (for a proxy that breaks one); `LOCALIZER_DIAGNOSTICS=1` adds event-loop
 * and GC figures to `list --json`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CleanupNotice } from '../shared/app-state';
import type { InstanceKind } from '../shared/control-answers';
import { defaultSettings } from '../shared/settings';
import type { HelperClient } from '../main/engine/helper/helper-client';
import { launchHelper } from '../main/engine/helper/helper-launcher';
import { memorySettings, openLocalizer, type OpenedLocalizer } from '../main/engine/open-localizer';
import { portForwardTransports, type PortForwardTransport } from '../main/engine/kube/pod-dialer';
import { stateDirectory } from '../main/engine/state-directory';
import { cliVersion } from './cli-version';
import { untilStopped } from './stop-signals';
import { UsageError } from './usage-error';

function helperCommand(): { command: string; args: string[] } {
  const built = fileURLToPath(new URL('./privileged-helper.js', import.meta.url));
  if (existsSync(built)) return { command: process.execPath, args: [built] };
  const source = fileURLToPath(new URL('../privileged-helper/main.ts', import.meta.url));
  return { command: process.execPath, args: ['--import', 'tsx', source] };
}

/** Starts the privileged helper through sudo (or directly as root); undefined keeps names off. */
async function startHelper(range: string, say: (line: string) => void): Promise<HelperClient | undefined> {
  const { command, args } = helperCommand();
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) say('Names in /etc/hosts need the privileged helper; sudo may ask for your password.');
  try {
    const helper = await launchHelper({
      command,
      args,
      socketDirectory:
        process.env.LOCALIZER_HELPER_SOCKET_DIR ??
        (process.platform === 'darwin' ? '/var/run/localizer' : '/run/localizer'),
      range,
      elevation: isRoot ? 'direct' : 'sudo',
    });
    return helper.client;
  } catch (error) {
    say(`Names are disabled: ${error instanceof Error ? error.message : String(error)}`);
    say(
      'Services stay reachable by their IP (see `localizer list`). Connect again with sudo rights to enable names.',
    );
    return undefined;
  }
}

function firstTransport(): PortForwardTransport | undefined {
  const value = process.env.LOCALIZER_PORT_FORWARD;
  if (value === undefined || value === '') return undefined;
  if ((portForwardTransports as readonly string[]).includes(value)) return value as PortForwardTransport;
  throw new UsageError(
    `LOCALIZER_PORT_FORWARD=${JSON.stringify(value)} is not a port-forward transport; use one of ${portForwardTransports.join(', ')}, or unset it`,
  );
}

export interface CliInstance extends OpenedLocalizer {
  /** Resolves on Ctrl-C, SIGTERM or SIGHUP (a closed terminal). */
  interrupted: Promise<void>;
}

/**
 * Opens this process's own instance, logging through `print` until it closes (a shutdown's
 * expected errors are not news); throws `InstanceRunningError` when one already runs.
 */
export async function startCliInstance(
  kind: Extract<InstanceKind, 'daemon' | 'foreground'>,
  print: (line: string) => void,
): Promise<CliInstance> {
  const transport = firstTransport();
  let closing = false;
  const opened = await openLocalizer({
    kind,
    stateDirectory: stateDirectory(),
    appInfo: { version: cliVersion(), platform: process.platform, electron: null },
    settings: memorySettings(defaultSettings),
    startHelper,
    ...(transport ? { firstTransport: transport } : {}),
    diagnostics: process.env.LOCALIZER_DIAGNOSTICS === '1',
    // What this command's own request already showed is not printed twice.
    log: (line, shownHere) => {
      if (!closing && !shownHere) print(line);
    },
  });
  return {
    ...opened,
    interrupted: untilStopped(undefined, () =>
      print(
        `Still undoing what this Localizer did (restoring workloads, removing names). \`kill -9 ${String(process.pid)}\` stops at once; \`localizer cleanup\` then undoes the rest.`,
      ),
    ),
    close: () => {
      closing = true;
      return opened.close();
    },
  };
}

/** Resolves once the instance holds nothing (its last connection or expose was stopped from elsewhere). */
export function whenIdle(opened: Pick<OpenedLocalizer, 'instance'>): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (opened.instance.hasWork) return;
      opened.instance.off('change', check);
      resolve();
    };
    opened.instance.on('change', check);
  });
}

/** What the instance undid after an earlier run, a line each: `Cleanup: restored Deployment web/api to 2 replicas.` */
export function printCleanup(notices: readonly CleanupNotice[], print: (line: string) => void): void {
  for (const notice of notices) {
    const where = notices.length > 1 ? ` (context ${notice.context})` : '';
    for (const line of notice.done) print(`Cleanup${where}: ${line}.`);
    for (const line of notice.skipped) print(`Left alone${where}: ${line}.`);
    for (const line of notice.failed) print(`Cleanup failed${where}: ${line}`);
  }
}
