/**
 * `localizer expose ns/svc [--map LOCAL:REMOTE]... [--stop]` and `localizer cleanup [--force]`.
 * An expose goes to the running instance (`connect`, the app, or an earlier `expose`) when there
 * is one, so `list` shows it there; otherwise this command becomes the instance and runs in the
 * foreground until Ctrl-C, or until `--stop` from another terminal.
 */
import { existsSync } from 'node:fs';
import {
  controlSocketPath,
  ControlError,
  requestControl,
  startControlServer,
  type ControlHandler,
  type ControlRequest,
  type ControlResponse,
} from '../main/engine/control/control-socket';
import { ExposeManager } from '../main/engine/expose/expose-manager';
import { slowCryptoWarning } from '../main/engine/expose/ssh-crypto';
import type { CleanupReport } from '../main/engine/expose/leftovers';
import { parsePortMapping, type PortMapping } from '../main/engine/expose/port-map';
import { defaultSshImage, type SshImage } from '../main/engine/expose/ssh-pod';
import { ExposeRefusedError } from '../main/engine/expose/workload-scaler';
import { loadKubeContext } from '../main/engine/kube/kube-context';
import { stateDirectory } from '../main/engine/state-directory';
import type { TunnelStatus } from '../shared/tunnel-status';
import { UsageError } from './usage-error';

export interface ExposeArguments {
  kubeconfig?: string;
  context?: string;
  /** `namespace/service`. */
  target: string;
  maps: string[];
  stop: boolean;
  sshImage?: string;
  /** `name:uid` of the image's non-root account. */
  sshUser?: string;
}

const namePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function parseTarget(text: string): { namespace: string; service: string } {
  const [namespace, service, extra] = text.split('/');
  if (
    !namespace ||
    !service ||
    extra !== undefined ||
    !namePattern.test(namespace) ||
    !namePattern.test(service)
  ) {
    throw new UsageError(
      `${JSON.stringify(text)} is not NAMESPACE/SERVICE. Name the service with its namespace, e.g. \`localizer expose web/api\`.`,
    );
  }
  return { namespace, service };
}

function parseImage(args: ExposeArguments): SshImage | undefined {
  if (!args.sshImage && !args.sshUser) return undefined;
  const [user, uidText] = (args.sshUser ?? `${defaultSshImage.user}:${String(defaultSshImage.uid)}`).split(
    ':',
  );
  const uid = Number(uidText);
  if (!user || !namePattern.test(user) || !Number.isInteger(uid) || uid <= 0) {
    throw new UsageError(
      `--ssh-user ${JSON.stringify(args.sshUser)} is not NAME:UID of a non-root account in the image, e.g. --ssh-user abc:911.`,
    );
  }
  return { image: args.sshImage ?? defaultSshImage.image, user, uid };
}

function parseMappings(maps: readonly string[]): PortMapping[] {
  try {
    return maps.map(parsePortMapping);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** One line per exposed port: `web/api:8080 -> 127.0.0.1:3000`. */
export function describeExpose(status: TunnelStatus): string {
  return status.ports
    .map(
      (port) =>
        `${status.namespace}/${status.name}:${String(port.port)} -> 127.0.0.1:${String(port.targetPort)}`,
    )
    .join('\n');
}

function printReport(report: CleanupReport, print: (line: string) => void): void {
  for (const line of report.done) print(`Cleanup: ${line}.`);
  for (const line of report.skipped) print(`Left alone: ${line}.`);
  for (const line of report.failed) print(`Cleanup failed: ${line}. Run \`localizer cleanup\` again.`);
}

/** The control socket's expose operations, served by whichever process runs the instance. */
export function exposeControl(
  manager: ExposeManager,
): (
  request: Exclude<ControlRequest, { op: 'list' }>,
  progress: (message: string) => void,
) => Promise<ControlResponse> {
  return async (request, progress) => {
    try {
      if (request.op === 'unexpose') {
        const match = manager
          .exposed()
          .find((e) => e.namespace === request.namespace && e.service === request.service);
        if (!match)
          return {
            ok: false,
            message: `${request.namespace}/${request.service} is not exposed by this Localizer.`,
          };
        progress(`Stopping the expose of ${request.namespace}/${request.service}: restoring its workloads…`);
        const stopped = await manager.unexpose(match.context, match.namespace, match.service);
        return {
          ok: true,
          message: stopped?.notice
            ? `Stopped, but ${stopped.notice}`
            : `Stopped: ${request.namespace}/${request.service} is served by its own pods again.`,
        };
      }
      const context = loadKubeContext({
        ...(request.kubeconfig ? { kubeconfig: request.kubeconfig } : {}),
        ...(request.context ? { context: request.context } : {}),
        env: request.kubeconfigEnv ? { KUBECONFIG: request.kubeconfigEnv } : {},
      });
      const report = await manager.recover(context);
      printReport(report, progress);
      const status = await manager.expose(
        context,
        { namespace: request.namespace, service: request.service, mappings: request.mappings },
        progress,
      );
      return { ok: true, message: `Exposed:\n${describeExpose(status)}` };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  };
}

function instanceRunning(directory: string): boolean {
  return existsSync(controlSocketPath(directory));
}

/** Resolves with the exit code. */
export async function runExpose(args: ExposeArguments, print: (line: string) => void): Promise<number> {
  const { namespace, service } = parseTarget(args.target);
  const mappings = parseMappings(args.maps);
  const image = parseImage(args);
  const directory = stateDirectory();

  if (args.stop) {
    const response = await requestControl(directory, { op: 'unexpose', namespace, service }, print).catch(
      (error: unknown) => {
        if (error instanceof ControlError)
          throw new ControlError(
            `No running Localizer has ${namespace}/${service} exposed. If one was killed, \`localizer cleanup\` restores what it scaled down.`,
          );
        throw error;
      },
    );
    print('message' in response ? response.message : '');
    return response.ok ? 0 : 1;
  }

  const request: ControlRequest = {
    op: 'expose',
    namespace,
    service,
    mappings,
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
    ...(process.env.KUBECONFIG ? { kubeconfigEnv: process.env.KUBECONFIG } : {}),
    ...(args.context ? { context: args.context } : {}),
  };
  if (instanceRunning(directory) && !image) {
    try {
      const response = await requestControl(directory, request, print);
      if (!response.ok) throw new ExposeRefusedError(response.message);
      print('message' in response ? response.message : '');
      print(
        `It runs in the Localizer already running (see \`localizer list\`); stop it with \`localizer expose ${namespace}/${service} --stop\`.`,
      );
      return 0;
    } catch (error) {
      // A stale socket: no instance after all, so this command becomes it.
      if (!(error instanceof ControlError)) throw error;
    }
  }
  return runForeground(args, request, image, print);
}

async function runForeground(
  args: ExposeArguments,
  request: Extract<ControlRequest, { op: 'expose' }>,
  image: SshImage | undefined,
  print: (line: string) => void,
): Promise<number> {
  const context = loadKubeContext({
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
    ...(args.context ? { context: args.context } : {}),
  });
  const directory = stateDirectory();
  const manager = new ExposeManager({ stateDirectory: directory, ...(image ? { image } : {}) });
  const exposeOps = exposeControl(manager);
  const handle: ControlHandler = (controlRequest, progress) =>
    controlRequest.op === 'list'
      ? {
          ok: true,
          tunnels: manager.snapshot(),
          health: { state: 'connected', reason: '' },
          pid: process.pid,
        }
      : exposeOps(controlRequest, progress);
  const control = await startControlServer(directory, handle);
  let stopped: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  process.once('SIGINT', stopped);
  process.once('SIGTERM', stopped);
  try {
    print(`Exposing ${request.namespace}/${request.service} (context ${context.name})…`);
    const warning = slowCryptoWarning();
    if (warning) print(`Warning: ${warning}`);
    printReport(await manager.recover(context), print);
    const status = await manager.expose(
      context,
      { namespace: request.namespace, service: request.service, mappings: request.mappings },
      (message) => print(`  ${message}`),
    );
    print(`Exposed:\n${describeExpose(status)}`);
    print(
      `Press Ctrl-C to stop (or run \`localizer expose ${request.namespace}/${request.service} --stop\`).`,
    );
    manager.on('status', (tunnels) => {
      if (tunnels.length === 0) stopped();
    });
    let lastLine = '';
    manager.on('status', (tunnels) => {
      for (const tunnel of tunnels) {
        const line = `${tunnel.namespace}/${tunnel.name}: ${tunnel.status}${tunnel.reason ? ` (${tunnel.reason})` : ''}`;
        if (line !== lastLine && tunnel.status !== 'stopping') print(line);
        lastLine = line;
      }
    });
    await done;
  } catch (error) {
    await control.close();
    await manager.stopAll();
    if (error instanceof ExposeRefusedError) throw error;
    throw new ExposeRefusedError(error instanceof Error ? error.message : String(error));
  }
  print('Stopping: restoring the workloads and deleting the SSH pod…');
  const { failures, notices } = await manager.stopAll();
  await control.close();
  for (const failure of failures) print(`Could not undo ${failure}. Run \`localizer cleanup\`.`);
  for (const notice of notices) print(`Stopped, but ${notice}`);
  if (failures.length + notices.length === 0) print('Stopped: the service is served by its own pods again.');
  return failures.length === 0 ? 0 : 1;
}

/** `localizer cleanup`: undoes what crashed exposes left. Exit 1 when something could not be undone. */
export async function runCleanup(
  args: { kubeconfig?: string; context?: string; force: boolean },
  print: (line: string) => void,
): Promise<number> {
  const context = loadKubeContext({
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
    ...(args.context ? { context: args.context } : {}),
  });
  const manager = new ExposeManager({ stateDirectory: stateDirectory() });
  const report = await manager.recover(context, args.force);
  await manager.stopAll();
  printReport(report, print);
  if (report.done.length + report.skipped.length + report.failed.length === 0)
    print(`Nothing to clean up in context ${context.name}.`);
  return report.failed.length === 0 ? 0 : 1;
}
