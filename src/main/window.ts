/**
 * The one factory for app windows, hardened per Electron's security checklist: context isolation,
 * the sandbox, no Node in the renderer, no navigation away, no new windows, external links only
 * through the allowlist. It also says which frames may call IPC.
 */
import { BrowserWindow, shell, type WebFrameMain } from 'electron';
import { isAllowedExternalUrl } from './external-links';
import type { TrustedFrameCheck } from './ipc';

export interface RendererLocation {
  /** The dev server URL in development (`ELECTRON_RENDERER_URL`), or undefined for the built files. */
  devServerUrl: string | undefined;
  /** Absolute path of the built `index.html`. */
  indexFile: string;
}

function isOurPage(rawUrl: string, location: RendererLocation): boolean {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return false;
  }
  if (location.devServerUrl) return url.origin === new URL(location.devServerUrl).origin;
  return url.protocol === 'file:' && decodeURIComponent(url.pathname) === location.indexFile;
}

/** IPC may come only from the top frame of a page we loaded. */
export function createFrameTrust(location: RendererLocation): TrustedFrameCheck {
  return (frame: WebFrameMain | null) =>
    frame !== null && frame.parent === null && isOurPage(frame.url, location);
}

export function createMainWindow(options: {
  preloadPath: string;
  location: RendererLocation;
}): BrowserWindow {
  const window = new BrowserWindow({
    width: 1100,
    height: 720,
    show: false,
    title: 'Localizer',
    webPreferences: {
      preload: options.preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternalUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  window.webContents.on('will-navigate', (event, url) => {
    if (!isOurPage(url, options.location)) event.preventDefault();
  });
  window.once('ready-to-show', () => window.show());
  if (options.location.devServerUrl) void window.loadURL(options.location.devServerUrl);
  else void window.loadFile(options.location.indexFile);
  return window;
}
