/**
 * `localizer connect`: runs the engine in the foreground, shows progress until every service is
 * ready, and undoes everything on Ctrl-C. Bad input exits non-zero before anything is written.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loopbackRange, parseIpv4Range, rangeWithin } from '../shared/ipv4-range';
import { isValidHostname } from '../shared/hostnames';
import { join } from 'node:path';
import { AddressBook } from '../main/engine/connect/address-book';
import { ConnectEngine, ConnectError } from '../main/engine/connect/connect-engine';
import { HelperSync } from '../main/engine/connect/helper-sync';
import { ExposeManager } from '../main/engine/expose/expose-manager';
import { startControlServer } from '../main/engine/control/control-socket';
import type { HelperClient } from '../main/engine/helper/helper-client';
import { launchHelper } from '../main/engine/helper/helper-launcher';
import { superviseHelper } from '../main/engine/helper/helper-supervisor';
import { loadKubeContext } from '../main/engine/kube/kube-context';
import { portForwardTransports, type PortForwardTransport } from '../main/engine/kube/pod-dialer';
import { startRuntimeDiagnostics } from '../main/engine/runtime-diagnostics';
import { stateDirectory } from '../main/engine/state-directory';
import { exposeControl } from './expose-command';
import { listTable } from './table';
import { UsageError } from './usage-error';

export interface ConnectArguments {
  kubeconfig?: string;
  /** Contexts to connect at once, each with its own addresses; the current context when empty. */
  contexts: string[];
  namespaces: string[];
  excludeNamespaces: string[];
  clusterDomain: string;
  ipRange: string;
  names: boolean;
}

export const defaultIpRange = '127.77.0.0/16';

export function checkConnectArguments(args: ConnectArguments): void {
  let range;
  try {
    range = parseIpv4Range(args.ipRange);
  } catch (error) {
    throw new UsageError(`--ip-range: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!rangeWithin(range, loopbackRange))
    throw new UsageError(`--ip-range must lie inside 127.0.0.0/8 (loopback), got ${args.ipRange}`);
  if (range.end - range.first < 256)
    throw new UsageError(
      `--ip-range ${args.ipRange} is too small: use a /24 or larger, so every service can have its own address`,
    );
  if (!isValidHostname(args.clusterDomain))
    throw new UsageError(`--cluster-domain ${JSON.stringify(args.clusterDomain)} is not a valid DNS name`);
  for (const namespace of [...args.namespaces, ...args.excludeNamespaces]) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace))
      throw new UsageError(`${JSON.stringify(namespace)} is not a valid namespace name`);
  }
}

function helperCommand(): { command: string; args: string[] } {
  const built = fileURLToPath(new URL('./privileged-helper.js', import.meta.url));
  if (existsSync(built)) return { command: process.execPath, args: [built] };
  const source = fileURLToPath(new URL('../privileged-helper/main.ts', import.meta.url));
  return { command: process.execPath, args: ['--import', 'tsx', source] };
}

async function startHelper(range: string, print: (line: string) => void): Promise<HelperClient | undefined> {
  const { command, args } = helperCommand();
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) print('Names in /etc/hosts need the privileged helper; sudo may ask for your password.');
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
    print(`Names are disabled: ${error instanceof Error ? error.message : String(error)}`);
    print(
      'Services stay reachable by their IP (see `localizer list`). Run connect again with sudo rights to enable names.',
    );
    return undefined;
  }
}

/**
 * `LOCALIZER_PORT_FORWARD`: the port-forward transport to try first (for a proxy that breaks one
 * of them); unset means SPDY over WebSocket, then raw SPDY, then WebSocket channels.
 */
function firstTransport(): PortForwardTransport | undefined {
  const value = process.env.LOCALIZER_PORT_FORWARD;
  if (value === undefined || value === '') return undefined;
  if ((portForwardTransports as readonly string[]).includes(value)) return value as PortForwardTransport;
  throw new UsageError(
    `LOCALIZER_PORT_FORWARD=${JSON.stringify(value)} is not a port-forward transport; use one of ${portForwardTransports.join(', ')}, or unset it`,
  );
}

/** Runs until SIGINT or SIGTERM. Resolves with the process exit code. */
export async function runConnect(args: ConnectArguments, print: (line: string) => void): Promise<number> {
  checkConnectArguments(args);
  const transport = firstTransport();
  const contextNames: (string | undefined)[] = args.contexts.length > 0 ? args.contexts : [undefined];
  const kubeContexts = contextNames.map((context) =>
    loadKubeContext({
      ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
      ...(context ? { context } : {}),
    }),
  );
  const directory = stateDirectory();
  // The control socket comes first, so a second instance fails before touching anything.
  const engines: ConnectEngine[] = [];
  const exposes = new ExposeManager({ stateDirectory: directory });
  const exposeOps = exposeControl(exposes);
  const diagnostics = process.env.LOCALIZER_DIAGNOSTICS === '1' ? startRuntimeDiagnostics() : undefined;
  const control = await startControlServer(directory, (request, progress) => {
    if (request.op !== 'list') return exposeOps(request, progress);
    const first = engines[0];
    const degraded = engines.find((e) => e.health.state !== 'connected');
    return {
      ok: true,
      tunnels: [...engines.flatMap((e) => e.snapshot()), ...exposes.snapshot()],
      health: (degraded ?? first)?.health ?? { state: 'connecting', reason: '' },
      pid: process.pid,
      ...(first ? { stats: { hostsWrites: first.hostsWrites, timings: first.timings } } : {}),
      ...(diagnostics ? { diagnostics: diagnostics.read() } : {}),
    };
  });
  const helper = args.names ? await startHelper(args.ipRange, print) : undefined;
  // On Ctrl-C the terminal signals the helper too, and it removes its names itself; a failed
  // final write then is expected, not news.
  const shutdown = { started: false };
  const sync = helper
    ? new HelperSync(helper, (message) => {
        if (!shutdown.started) print(message);
      })
    : undefined;
  // A helper that dies is replaced, so its names never outlive this run.
  const supervisor =
    helper && sync
      ? superviseHelper({
          first: helper,
          sync,
          start: () => startHelper(args.ipRange, print),
          shouldRelaunch: () => !shutdown.started,
          say: print,
        })
      : undefined;
  // One address book for every context, so no two services anywhere share an address.
  const addresses = new AddressBook(args.ipRange, join(directory, 'addresses.json'));
  const cleanup = async (): Promise<void> => {
    const { failures, notices } = await exposes.stopAll();
    for (const failure of failures) print(`Could not undo the expose ${failure}. Run \`localizer cleanup\`.`);
    for (const notice of notices) print(`Stopped the expose ${notice}`);
    await Promise.all(engines.map((engine) => engine.stop()));
    await sync?.clear();
    if (supervisor) supervisor.close();
    else helper?.close();
    diagnostics?.stop();
    await control.close();
  };
  try {
    for (const kubeContext of kubeContexts) {
      print(`Connecting to ${kubeContext.server} (context ${kubeContext.name})…`);
      const engine = new ConnectEngine({
        kubeContext,
        stateDirectory: directory,
        ipRange: args.ipRange,
        clusterDomain: args.clusterDomain,
        namespaces: args.namespaces,
        excludeNamespaces: args.excludeNamespaces,
        sync,
        addresses,
        ...(transport ? { firstTransport: transport } : {}),
        log: (message) => print(kubeContexts.length > 1 ? `[${kubeContext.name}] ${message}` : message),
      });
      engines.push(engine);
      await engine.start();
    }
  } catch (error) {
    await cleanup();
    if (error instanceof ConnectError) throw new UsageError(error.message);
    throw error;
  }

  let lastProgress = '';
  let announced = false;
  const onStatus = (): void => {
    const tunnels = engines.flatMap((e) => e.snapshot());
    const forwarded = tunnels.filter((t) => t.status !== 'skipped');
    const ready = forwarded.filter((t) => t.status === 'running').length;
    const progress = `${ready} of ${forwarded.length} services ready`;
    // Before the first list there is nothing to count yet.
    const listed = engines.every((e) => e.timings.firstListAt !== undefined);
    if (listed && progress !== lastProgress) {
      lastProgress = progress;
      if (!announced) print(progress);
    }
    if (!announced && ready === forwarded.length && forwarded.length > 0) {
      announced = true;
      // Say "connected" only once the names are in /etc/hosts too.
      void Promise.all(engines.map((e) => e.flush())).then(() => {
        print(listTable(engines.flatMap((e) => e.snapshot())));
        print(
          `Connected: ${ready} services forwarded${helper ? ' with names in /etc/hosts' : ' (names disabled)'}. Press Ctrl-C to disconnect.`,
        );
      });
    }
  };
  for (const engine of engines) {
    engine.on('status', onStatus);
    engine.on('health', (health) => {
      if (health.reason) print(`${health.state}: ${health.reason}`);
    });
  }
  onStatus();

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  shutdown.started = true;
  print('Disconnecting: removing names and closing forwards…');
  await cleanup();
  print('Disconnected.');
  return 0;
}
