/**
 * `localizer expose ns/svc [--map LOCAL:REMOTE]... [--stop]` and `localizer cleanup [--force]`.
 * An expose goes to the running instance (the app, the daemon, a foreground `connect` or
 * `expose`) when there is one, in its context, so `list` and the window show it there;
 * otherwise this command becomes the instance and runs in the foreground until Ctrl-C, or until
 * `--stop` from another terminal.
 */
import {
  askRunning,
  ControlError,
  requestControl,
  runningInstance,
  type ControlAsk,
} from '../main/engine/control/control-client';
import { parsePortMapping, type PortMapping } from '../main/engine/expose/port-map';
import { defaultSshImage, type SshImage } from '../main/engine/expose/ssh-image';
import { ExposeRefusedError } from '../main/engine/expose/expose-refused-error';
import { stateDirectory } from '../main/engine/state-directory';
import { parseRouteHeader, type ExposeMode } from '../shared/tunnel-status';
import type { CleanupReport } from '../main/engine/expose/leftovers';
import { defaultSettings } from '../shared/settings';
import { cliVersion } from './cli-version';
import { kubeSource } from './kube-source';
import { UsageError } from './usage-error';

export interface ExposeArguments {
  kubeconfig?: string;
  context?: string;
  /** `namespace/service`. */
  target: string;
  maps: string[];
  stop: boolean;
  mode: ExposeMode;
  /** `NAME=VALUE` of a personal intercept. */
  header?: string;
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

/** `x-dev=alice` → the header and value; the message says what one looks like. */
export function parseHeader(text: string): { name: string; value: string } {
  const header = parseRouteHeader(text);
  if (!header)
    throw new UsageError(
      `--header ${JSON.stringify(text)} is not NAME=VALUE: NAME is an HTTP header (letters, digits, -) and VALUE 1-64 letters, digits or ._~-, e.g. --header x-dev=alice.`,
    );
  return header;
}

function parseMappings(maps: readonly string[]): PortMapping[] {
  try {
    return maps.map(parsePortMapping);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function printReport(report: CleanupReport, print: (line: string) => void): void {
  for (const line of report.done) print(`Cleanup: ${line}.`);
  for (const line of report.skipped) print(`Left alone: ${line}.`);
  for (const line of report.failed) print(`Cleanup failed: ${line}. Run \`localizer cleanup\` again.`);
}

/** A refusal from the running instance, as this command's own. */
function asRefusal(error: unknown): never {
  if (error instanceof ControlError && error.code === 'refused') throw new ExposeRefusedError(error.message);
  throw error;
}

/** Resolves with the exit code. */
export async function runExpose(args: ExposeArguments, print: (line: string) => void): Promise<number> {
  const { namespace, service } = parseTarget(args.target);
  const mappings = parseMappings(args.maps);
  const image = parseImage(args);
  if (args.header !== undefined && args.mode === 'scale-down')
    throw new UsageError(
      '--header and --scale-down do not go together: a personal intercept leaves the workloads running for everyone else.',
    );
  const header = args.header !== undefined ? parseHeader(args.header) : undefined;
  const directory = stateDirectory();
  const running = runningInstance(directory);

  if (args.stop) {
    if (!running)
      throw new ControlError(
        `No running Localizer has ${namespace}/${service} exposed. If one was killed, \`localizer cleanup\` restores what it scaled down.`,
        'not-running',
      );
    const answer = await requestControl(
      directory,
      { op: 'unexpose', namespace, service, ...(args.context ? { context: args.context } : {}) },
      { onProgress: print },
    ).catch(asRefusal);
    print(answer.message);
    return 0;
  }

  const request = {
    source: kubeSource(args.kubeconfig),
    ...(args.context ? { context: args.context } : {}),
    namespace,
    service,
    mappings,
    ...(image ? { image } : {}),
    mode: args.mode,
    ...(header ? { header } : {}),
  };
  // Joined or in the foreground, the same request through the same handler: the same words.
  const exposeThrough = async (ask: ControlAsk, say = print): Promise<void> => {
    say(`Exposing ${namespace}/${service}…`);
    const onProgress = (message: string): void => say(`  ${message}`);
    say((await ask({ op: 'expose', ...request }, { onProgress }).catch(asRefusal)).message);
  };
  if (running) {
    await exposeThrough(askRunning(directory));
    print(
      `It runs in ${running.description} (see \`localizer list\`); stop it with \`localizer expose ${namespace}/${service} --stop\`.`,
    );
    return 0;
  }

  // The engine is loaded only now: an expose that joins a running instance never needs it.
  const { printCleanup, startCliInstance, whenIdle } = await import('./cli-instance');
  const opened = await startCliInstance('foreground', print);
  try {
    // A Ctrl-C while it starts stops the start at once (the close below undoes what it made),
    // and the expose is not announced as running first; its progress after that is not news.
    // An object, so the check after the race reads it fresh.
    const ctrlC = { pressed: false };
    void opened.interrupted.then(() => (ctrlC.pressed = true));
    printCleanup(await opened.instance.recoverEarlierRuns(), print);
    const started = exposeThrough(opened.request, (line) => {
      if (!ctrlC.pressed) print(line);
    });
    started.catch(() => undefined);
    await Promise.race([opened.interrupted, started]);
    if (!ctrlC.pressed) {
      print(`Press Ctrl-C to stop (or run \`localizer expose ${namespace}/${service} --stop\`).`);
      let lastLine = '';
      opened.instance.on('change', () => {
        for (const tunnel of opened.instance.tunnels()) {
          if (tunnel.kind !== 'expose') continue;
          const line = `${tunnel.namespace}/${tunnel.name}: ${tunnel.status}${tunnel.reason ? ` (${tunnel.reason})` : ''}`;
          if (line !== lastLine && tunnel.status !== 'stopping') print(line);
          lastLine = line;
        }
      });
      // Until Ctrl-C, or until `--stop` leaves this instance nothing to do.
      await Promise.race([opened.interrupted, whenIdle(opened)]);
    }
  } catch (error) {
    await opened.close();
    throw error;
  }
  const wasExposed = opened.instance.hasWork;
  if (wasExposed)
    print(
      {
        takeover: 'Stopping: giving the service its own selector back and deleting the SSH pod…',
        'scale-down': 'Stopping: restoring the workloads and deleting the SSH pod…',
        personal:
          'Stopping: taking the route off the router (the last one out removes it) and deleting the SSH pod…',
      }[args.mode],
    );
  const failures = await opened.close();
  for (const failure of failures) print(`Could not undo ${failure}. Run \`localizer cleanup\`.`);
  if (failures.length === 0)
    print(
      header
        ? `Stopped: requests with ${header.name}=${header.value} go to the service's own pods again (the router stays while teammates hold routes; the last one out removes it).`
        : 'Stopped: the service is served by its own pods again.',
    );
  return failures.length === 0 ? 0 : 1;
}

/** `localizer cleanup`: undoes what crashed exposes left. Exit 1 when something could not be undone. */
export async function runCleanup(
  args: { kubeconfig?: string; context?: string; force: boolean },
  print: (line: string) => void,
): Promise<number> {
  const directory = stateDirectory();
  const request = {
    source: kubeSource(args.kubeconfig),
    ...(args.context ? { context: args.context } : {}),
    force: args.force,
  };
  let report: CleanupReport & { context: string };
  if (runningInstance(directory)) {
    report = await requestControl(directory, { op: 'cleanup', ...request }).catch(asRefusal);
  } else {
    // Held for the cleanup, so no instance starts halfway through it.
    const { LocalizerInstance } = await import('../main/engine/instance/localizer-instance');
    const instance = LocalizerInstance.open({
      kind: 'foreground',
      version: cliVersion(),
      stateDirectory: directory,
      defaults: () => ({ ...defaultSettings, sshImage: defaultSshImage }),
    });
    try {
      report = await instance.cleanup(request);
    } finally {
      await instance.close();
    }
  }
  printReport(report, print);
  if (report.done.length + report.skipped.length + report.failed.length === 0)
    print(`Nothing to clean up in context ${report.context}.`);
  return report.failed.length === 0 ? 0 : 1;
}
