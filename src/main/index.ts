/**
 * The composition root: builds every part of the app on ready, in an order that can be read here,
 * and disposes of them on quit. No other module has side effects when imported.
 *
 * Test hooks (the e2e specs run the real app with them): LOCALIZER_STATE_DIR moves the state,
 * LOCALIZER_IP_RANGE overrides the address range for this run, LOCALIZER_NO_HELPER=1 keeps names
 * off instead of asking for a password.
 */
import { join } from 'node:path';
import { app, BrowserWindow, dialog, ipcMain, Notification } from 'electron';
import type { z } from 'zod';
import {
  apiArgumentSchemas,
  channels,
  type ApiCallName,
  type IpcErrorCode,
  type TunnelTarget,
} from '../shared/api';
import type { Result } from '../shared/result';
import type { AppState } from '../shared/app-state';
import type { Settings } from '../shared/settings';
import { InstanceRunningError } from './engine/control/instance-lock';
import { openLocalizer, type OpenedLocalizer } from './engine/open-localizer';
import type { LocalizerBackend, SettingsStore } from './engine/localizer-backend';
import { stateDirectory } from './engine/state-directory';
import { launchElevatedHelper } from './helper-elevation';
import { registerHandler } from './ipc';
import { setupNotifications } from './notifications';
import { createSettingsStore } from './settings-store';
import { openTerminal } from './terminal';
import { setupTray } from './tray';
import type { TrayAction } from './tray/tray-model';
import { createFrameTrust, createMainWindow, type RendererLocation } from './window';

const disposers: (() => void)[] = [];
const logger = {
  warn: (message: string, context: Record<string, unknown>) => console.warn(`[main] ${message}`, context),
};

/**
 * The one Localizer of this user: the window, the tray and the `localizer` commands all drive
 * it. Resolves undefined, after telling the user, when another instance (a daemon) owns the
 * state directory.
 */
async function setupLocalizer(): Promise<{ opened: OpenedLocalizer; settings: SettingsStore } | undefined> {
  const settings = createSettingsStore(
    process.env.LOCALIZER_IP_RANGE ? { ipRange: process.env.LOCALIZER_IP_RANGE } : {},
  );
  let opened: OpenedLocalizer;
  try {
    opened = await openLocalizer({
      kind: 'app',
      stateDirectory: stateDirectory(),
      appInfo: { version: app.getVersion(), platform: process.platform, electron: process.versions.electron },
      settings,
      openTerminal,
      log: (message) => console.log(`[engine] ${message}`),
      startHelper: async (range) => {
        if (process.env.LOCALIZER_NO_HELPER === '1') return undefined;
        try {
          const helper = await launchElevatedHelper({
            executable: process.execPath,
            helperScript: join(import.meta.dirname, 'privileged-helper.js'),
            socketDirectory: process.platform === 'darwin' ? '/var/run/localizer' : '/run/localizer',
            range,
          });
          return helper.client;
        } catch (error) {
          console.warn(`[main] names disabled: ${error instanceof Error ? error.message : String(error)}`);
          return undefined;
        }
      },
    });
  } catch (error) {
    if (!(error instanceof InstanceRunningError)) throw error;
    dialog.showErrorBox('Localizer is already running', error.message);
    return undefined;
  }
  app.setLoginItemSettings({ openAtLogin: settings.get().launchAtLogin });
  return { opened, settings };
}

function setupIpc(backend: LocalizerBackend, location: RendererLocation): void {
  const isTrustedFrame = createFrameTrust(location);
  const calls = Object.keys(apiArgumentSchemas) as ApiCallName[];
  for (const name of calls) {
    // Each schema matches its method's parameters (checked in src/shared/api.ts).
    const call = backend[name].bind(backend) as (
      ...args: unknown[]
    ) => Promise<Result<unknown, IpcErrorCode>>;
    disposers.push(
      registerHandler({
        ipcMain,
        channel: channels[name],
        argsSchema: apiArgumentSchemas[name] as z.ZodType<unknown[]>,
        isTrustedFrame,
        logger,
        handler: async (...args: unknown[]) => {
          const result = await call(...args);
          if (name === 'updateSettings' && result.ok) {
            app.setLoginItemSettings({ openAtLogin: (result.value as Settings).launchAtLogin });
          }
          return result;
        },
      }),
    );
  }
}

/** Sends state and focus events to every window; subscribers for the tray and notifications. */
function setupEvents(backend: LocalizerBackend): (listener: (state: AppState) => void) => () => void {
  const onState = (state: AppState): void => {
    for (const window of BrowserWindow.getAllWindows()) window.webContents.send(channels.onState, state);
  };
  const onFocus = (target: TunnelTarget): void => {
    for (const window of BrowserWindow.getAllWindows())
      window.webContents.send(channels.onFocusTunnel, target);
  };
  backend.on('state', onState);
  backend.on('focusTunnel', onFocus);
  disposers.push(() => {
    backend.off('state', onState);
    backend.off('focusTunnel', onFocus);
  });
  return (listener) => {
    backend.on('state', listener);
    return () => backend.off('state', listener);
  };
}

function showWindow(location: RendererLocation): BrowserWindow {
  const existing = BrowserWindow.getAllWindows()[0];
  if (existing) {
    existing.show();
    existing.focus();
    return existing;
  }
  const window = createMainWindow({
    preloadPath: join(import.meta.dirname, '../preload/index.cjs'),
    location,
  });
  // A tray app: closing the window keeps the tunnels; Quit (tray) ends them.
  window.on('close', (event) => {
    if (!quitting) {
      event.preventDefault();
      window.hide();
    }
  });
  return window;
}

let quitting = false;

if (!app.requestSingleInstanceLock()) app.quit();
else {
  void app.whenReady().then(async () => {
    const location: RendererLocation = {
      devServerUrl: process.env.ELECTRON_RENDERER_URL,
      indexFile: join(import.meta.dirname, '../renderer/index.html'),
    };
    const localizer = await setupLocalizer();
    if (!localizer) {
      app.exit(1);
      return;
    }
    const { opened, settings } = localizer;
    const backend = opened.api;
    setupIpc(backend, location);
    const onState = setupEvents(backend);
    const run = (action: TrayAction): void => {
      const connected = !['disconnected', 'error'].includes(backend.snapshot().connection.state);
      switch (action.kind) {
        case 'toggle-connection':
          void (connected ? backend.disconnect() : backend.connect());
          break;
        case 'select-context':
          void backend.selectContext(action.context);
          break;
        case 'stop-expose':
          void backend.stopExpose({ namespace: action.namespace, name: action.name });
          break;
        case 'show-tunnel':
          showWindow(location);
          backend.focusTunnel({ namespace: action.namespace, name: action.name });
          break;
        case 'project-up':
        case 'project-down': {
          // From the tray nothing else would say why it did not work.
          const doing = action.kind === 'project-up' ? 'bring up' : 'bring down';
          void (
            action.kind === 'project-up' ? backend.projectUp(action.path) : backend.projectDown(action.path)
          ).then((result) => {
            if (!result.ok)
              new Notification({ title: `Could not ${doing} ${action.path}`, body: result.message }).show();
          });
          break;
        }
        case 'open-window':
          showWindow(location);
          break;
        case 'quit':
          app.quit();
          break;
      }
    };
    disposers.push(setupTray({ initial: backend.snapshot(), onState, run }));
    disposers.push(
      setupNotifications({
        initial: backend.snapshot(),
        onState,
        enabled: () => settings.get().notifications,
        onClick: (target) => {
          showWindow(location);
          if (target) backend.focusTunnel(target);
        },
      }),
    );
    app.on('second-instance', () => showWindow(location));
    showWindow(location);
    // An earlier run that was killed may have left workloads scaled down: put them back now.
    void opened.instance.recoverEarlierRuns();

    // Quit cleans up everything first: workloads restored, names removed.
    app.on('before-quit', (event) => {
      if (quitting) return;
      quitting = true;
      event.preventDefault();
      void opened.close().finally(() => {
        for (const dispose of disposers.reverse()) dispose();
        app.quit();
      });
    });
  });
  // Keep running in the tray when the last window closes.
  app.on('window-all-closed', () => undefined);
}
