/**
 * The composition root: builds every part of the app on ready, in an order that can be read here,
 * and disposes of them on quit. No other module has side effects when imported.
 */
import { join } from 'node:path';
import { app, ipcMain } from 'electron';
import { z } from 'zod';
import { channels } from '../shared/api';
import { ok } from '../shared/result';
import { registerHandler } from './ipc';
import { createFrameTrust, createMainWindow, type RendererLocation } from './window';

const disposers: (() => void)[] = [];
const logger = {
  warn: (message: string, context: Record<string, unknown>) => console.warn(`[main] ${message}`, context),
};

function setupIpc(location: RendererLocation): void {
  disposers.push(
    registerHandler({
      ipcMain,
      channel: channels.getAppInfo,
      argsSchema: z.tuple([]),
      isTrustedFrame: createFrameTrust(location),
      logger,
      handler: () =>
        ok({
          version: app.getVersion(),
          platform: process.platform,
          electron: process.versions.electron,
        }),
    }),
  );
}

function setupWindows(location: RendererLocation): void {
  createMainWindow({ preloadPath: join(import.meta.dirname, '../preload/index.cjs'), location });
}

void app.whenReady().then(() => {
  const location: RendererLocation = {
    devServerUrl: process.env.ELECTRON_RENDERER_URL,
    indexFile: join(import.meta.dirname, '../renderer/index.html'),
  };
  setupIpc(location);
  setupWindows(location);
});

app.on('will-quit', () => {
  for (const dispose of disposers.reverse()) dispose();
});
