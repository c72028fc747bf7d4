/**
 * The renderer's only door to the app: one method per IPC message, typed by `LocalizerApi`.
 * Never exposes `ipcRenderer` itself.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { channels, type LocalizerApi } from '../shared/api';

const api = {
  getAppInfo: () => ipcRenderer.invoke(channels.getAppInfo),
} satisfies LocalizerApi;

contextBridge.exposeInMainWorld('localizer', api);
