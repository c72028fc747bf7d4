/**
 * How every front end starts Localizer: take the state directory, build the instance and the
 * window API over it, and open the control socket. The app, the browser harness, `localizer
 * daemon` and a foreground `connect`/`expose` all call this, and differ only in the options.
 */
import { classifyFailure, controlHandler } from './instance/control-dispatch';
import type { AppInfo } from '../../shared/api';
import type { ControlOp, ControlRequest, ControlResult } from '../../shared/control-protocol';
import { exchangeControl, type RequestOptions } from './control/control-client';
import { serveControlConnection } from './control/control-server';
import { duplexPair } from './control/duplex-pair';
import type { Settings } from '../../shared/settings';
import { defaultSshImage, type SshImage } from './expose/ssh-pod';
import { LocalizerBackend, type LocalizerBackendOptions, type SettingsStore } from './localizer-backend';
import { LocalizerInstance, type LocalizerInstanceOptions } from './instance/localizer-instance';

export interface OpenLocalizerOptions extends Omit<LocalizerInstanceOptions, 'defaults' | 'version'> {
  appInfo: AppInfo;
  settings: SettingsStore;
  openTerminal?: LocalizerBackendOptions['openTerminal'];
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
  request: <Op extends ControlOp>(
    request: Extract<ControlRequest, { op: Op }>,
    options?: RequestOptions,
  ) => Promise<ControlResult<Op>>;
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
  const { appInfo, settings, openTerminal, ...instanceOptions } = options;
  const instance = LocalizerInstance.open({
    ...instanceOptions,
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
      const [client, server] = duplexPair();
      serveControlConnection(server, handler, classifyFailure);
      return exchangeControl(client, 'this Localizer', request, requestOptions);
    },
    close: async () => {
      api.dispose();
      return instance.close();
    },
  };
}
