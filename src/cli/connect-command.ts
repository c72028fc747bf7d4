/**
 * `localizer connect` and `localizer disconnect`. Connect asks the running Localizer (the app, the
 * daemon, another foreground command) to connect, and returns once every service is ready. With
 * none running it becomes the instance: it runs in the foreground, shows progress until every
 * service is ready, and undoes everything on Ctrl-C. Bad input exits non-zero before anything is
 * written.
 */
import type { ConnectRequest } from '../shared/control-protocol';
import type { InstanceStatus } from '../shared/control-answers';
import {
  askRunning,
  ControlError,
  requestControl,
  runningInstance,
  type ControlAsk,
} from '../main/engine/control/control-client';
import { connectOptionsProblem, withConnectDefaults } from '../main/engine/instance/connect-options';
import type { ConnectRequest as InstanceConnectRequest } from '../main/engine/instance/instance-requests';
import { defaultSettings } from '../shared/settings';
import { stateDirectory } from '../main/engine/state-directory';
import { kubeSource } from './kube-source';
import { listTable } from './table';
import { UsageError } from './usage-error';

/** What `localizer connect` was given: the instance's connect request, with a kubeconfig path. */
export type ConnectArguments = Omit<InstanceConnectRequest, 'source'> & { kubeconfig?: string };

export function checkConnectArguments(args: ConnectArguments): void {
  const problem = connectOptionsProblem(withConnectDefaults(args, defaultSettings));
  if (problem) throw new UsageError(problem);
}

function connectRequest(args: ConnectArguments): Omit<ConnectRequest, 'op'> {
  return {
    source: kubeSource(args.kubeconfig),
    contexts: args.contexts,
    names: args.names,
    ...(args.namespaces?.length ? { namespaces: args.namespaces } : {}),
    ...(args.excludeNamespaces?.length ? { excludeNamespaces: args.excludeNamespaces } : {}),
    ...(args.clusterDomain ? { clusterDomain: args.clusterDomain } : {}),
    ...(args.ipRange ? { ipRange: args.ipRange } : {}),
    ...(args.relays === false ? { relays: false } : {}),
    ...(args.relayImage ? { relayImage: args.relayImage } : {}),
  };
}

function namesNote(status: InstanceStatus): string {
  return status.helper.state === 'running' ? ' with names in /etc/hosts' : ' (names disabled)';
}

function readyCount(status: InstanceStatus): number {
  return status.contexts.reduce((n, c) => n + c.ready, 0);
}

/**
 * Connects through `ask` (a running instance's socket, or this process's own instance) and prints
 * the forwards; resolves with the "Connected: …" sentence, the same whichever instance it is.
 * Refusals (bad input, an unreachable cluster) exit 2 with the instance's words.
 */
async function connectThrough(
  ask: ControlAsk,
  args: ConnectArguments,
  print: (line: string) => void,
): Promise<string> {
  try {
    const answer = await ask({ op: 'connect', ...connectRequest(args) }, { onProgress: print });
    print(listTable((await ask({ op: 'list' })).tunnels));
    return `Connected: ${String(readyCount(answer.status))} services forwarded${namesNote(answer.status)}${answer.settled}.`;
  } catch (error) {
    if (error instanceof ControlError && error.code === 'refused') throw new UsageError(error.message);
    throw error;
  }
}

/** Resolves with the process exit code: 0 once connected (joined), or after Ctrl-C (foreground). */
export async function runConnect(args: ConnectArguments, print: (line: string) => void): Promise<number> {
  checkConnectArguments(args);
  const directory = stateDirectory();
  const running = runningInstance(directory);
  if (running) {
    const connected = await connectThrough(askRunning(directory), args, print);
    print(`${connected} It runs in ${running.description}; \`localizer disconnect\` undoes it.`);
    return 0;
  }

  // On Ctrl-C the terminal signals the helper too, and it removes its names itself; a failed
  // final write then is expected, not news: the instance stops logging as it closes. The engine
  // is loaded only now: a command that joins a running instance never needs it.
  const { printCleanup, startCliInstance, whenIdle } = await import('./cli-instance');
  const opened = await startCliInstance('foreground', print);
  try {
    printCleanup(await opened.instance.recoverEarlierRuns(), print);
    // The same request, and so the same words, as when joining a running instance. After a
    // Ctrl-C the connect under way finishes before the disconnect: its progress is not news.
    let interrupted = false;
    void opened.interrupted.then(() => (interrupted = true));
    const quietOnceInterrupted = (line: string): void => {
      if (!interrupted) print(line);
    };
    const ready = connectThrough(opened.request, args, quietOnceInterrupted).then((connected) =>
      print(`${connected} Press Ctrl-C to disconnect.`),
    );
    // After a Ctrl-C, how the connect under way ends is no longer news.
    ready.catch(() => undefined);
    // Until Ctrl-C, or until `localizer disconnect` leaves this instance nothing to do.
    await Promise.race([opened.interrupted, ready.then(() => whenIdle(opened))]);
  } catch (error) {
    await opened.close();
    throw error;
  }
  print('Disconnecting: removing names and closing forwards…');
  const failures = await opened.close();
  for (const failure of failures) print(`Could not undo the expose ${failure}. Run \`localizer cleanup\`.`);
  print('Disconnected.');
  return failures.length === 0 ? 0 : 1;
}

/** `localizer disconnect [--context C]...`: asks the running instance; exit 1 when none runs. */
export async function runDisconnect(contexts: string[], print: (line: string) => void): Promise<number> {
  const answer = await requestControl(
    stateDirectory(),
    { op: 'disconnect', contexts },
    { onProgress: print },
  );
  print(answer.message);
  return 0;
}
