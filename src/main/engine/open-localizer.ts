/**
 * How every front end starts Localizer: take the state directory, build the instance and the
 * window API over it, and open the control socket. The app, the browser harness, `localizer
 * daemon` and a foreground `connect`/`expose` all call this, and differ only in the options.
 */
import { classifyFailure, controlHandler } from './instance/control-dispatch';
import type { AppInfo } from '../../shared/api';
import { exchangeControl, type ControlAsk } from './control/control-client';
import { isRefusal } from './instance/instance-refusal';
import { serveControlConnection } from './control/control-server';
import { duplexPair } from './control/duplex-pair';
import type { Settings } from '../../shared/settings';
import { defaultSshImage, type SshImage } from './expose/ssh-image';
import { LocalizerBackend, type LocalizerBackendOptions, type SettingsStore } from './localizer-backend';
import { LocalizerInstance, type LocalizerInstanceOptions } from './instance/localizer-instance';

export interface OpenLocalizerOptions extends Omit<LocalizerInstanceOptions, 'defaults' | 'version' | 'log'> {
  appInfo: AppInfo;
  settings: SettingsStore;
  openTerminal?: LocalizerBackendOptions['openTerminal'];
  /**
   * What the instance says. `shownHere`: a request of this process (`request` below, a
   * foreground command's own) has been given it as progress, on this process's terminal.
   */
  log?: (message: string, shownHere: boolean) => void;
}

export interface OpenedLocalizer {
  instance: LocalizerInstance;
  /** The window's API over the instance (also reachable through the control socket's `api`). */
  api: LocalizerBackend;
  /**
   * Asks this instance as a `localizer` command asks a running one, through the same handler as
   * its control socket, over an in-memory pair: a command run in the foreground says what it
   * says when it joins a running instance.
   */
  request: ControlAsk;
  /** Restores every workload, removes every name, frees the state directory. */
  close(): Promise<string[]>;
}

/** The SSH image and account the settings name (`sshUser` is `name:uid`). */
export function sshImageOf(settings: Settings): SshImage {
  const [user = defaultSshImage.user, uid = String(defaultSshImage.uid)] = settings.sshUser.split(':');
  return { image: settings.sshImage, user, uid: Number(uid) };
}

/** A settings store that lives as long as the process: the CLI's flags are its settings. */
export function memorySettings(initial: Settings): SettingsStore {
  let current = initial;
  return {
    get: () => current,
    set: (next) => {
      current = next;
    },
  };
}

/** Throws `InstanceRunningError` (naming the running one) when another instance owns the directory. */
export async function openLocalizer(options: OpenLocalizerOptions): Promise<OpenedLocalizer> {
  const { appInfo, settings, openTerminal, log, ...instanceOptions } = options;
  // This process's own connects under way. Only a connect starts the helper (whose lines are the
  // ones told to the asker too), and the instance runs one connect at a time: a line told to the
  // asker while one of these runs was told to this process.
  let ownConnects = 0;
  const instance = LocalizerInstance.open({
    ...instanceOptions,
    ...(log
      ? { log: (message, toldTheAsker) => log(message, toldTheAsker === true && ownConnects > 0) }
      : {}),
    version: appInfo.version,
    defaults: () => {
      const current = settings.get();
      return { ...current, sshImage: sshImageOf(current) };
    },
  });
  const api = new LocalizerBackend({
    instance,
    appInfo,
    settings,
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(openTerminal ? { openTerminal } : {}),
  });
  const handler = controlHandler(instance, api);
  try {
    await instance.serve(handler, classifyFailure);
  } catch (error) {
    await instance.close();
    throw error;
  }
  return {
    instance,
    api,
    request: (request, requestOptions) => {
      const connect = request.op === 'connect';
      if (connect) ownConnects++;
      const [client, server] = duplexPair();
      let failed: unknown;
      serveControlConnection(server, handler, (error) => {
        failed = error;
        return classifyFailure(error);
      });
      // The asker is this process: an error that is no refusal (a bug, a file it cannot write)
      // stays itself, stack and all, as a direct call would leave it, not a one-line answer.
      return exchangeControl(client, 'the Localizer in this process', request, requestOptions)
        .catch((error: unknown) => {
          throw failed !== undefined && !isRefusal(failed) ? failed : error;
        })
        .finally(() => {
          if (connect) ownConnects--;
        });
    },
    close: async () => {
      api.dispose();
      return instance.close();
    },
  };
}
