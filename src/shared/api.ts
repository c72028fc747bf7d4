/**
 * The one contract between the renderer, the preload and the main process. Main's handlers, the
 * preload object (`satisfies LocalizerApi`) and the renderer are all typed from here.
 */
import type { Result } from './result';

/** Every way an IPC call can fail that the renderer is expected to handle. */
export const ipcErrorCodes = ['invalid-input', 'not-allowed', 'internal'] as const;
export type IpcErrorCode = (typeof ipcErrorCodes)[number];

export interface AppInfo {
  /** Localizer's version, from package.json. */
  version: string;
  /** `process.platform` of the main process. */
  platform: string;
  /** Electron's version, or `null` when the UI runs in a plain browser harness. */
  electron: string | null;
}

/** What the renderer can ask of the main process. One method per IPC message. */
export interface LocalizerApi {
  getAppInfo(): Promise<Result<AppInfo, IpcErrorCode>>;
}

/** IPC channel names, `domain:verb`, one per API method. */
export const channels = {
  getAppInfo: 'app:info',
} as const satisfies Record<keyof LocalizerApi, `${string}:${string}`>;
