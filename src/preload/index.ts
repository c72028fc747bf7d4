/**
 * The renderer's only door to the app: one method per IPC message, typed by `LocalizerApi`.
 * Never exposes `ipcRenderer` itself; subscriptions drop the event object and return an
 * unsubscribe function.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { channels, type ApiEventName, type LocalizerApi } from '../shared/api';

function subscribe<K extends ApiEventName>(name: K, listener: Parameters<LocalizerApi[K]>[0]): () => void {
  // Main sends exactly the payload the event's listener takes (see main's event senders).
  const deliver = listener as (payload: unknown) => void;
  const handler = (_event: IpcRendererEvent, payload: unknown): void => deliver(payload);
  ipcRenderer.on(channels[name], handler);
  return () => ipcRenderer.removeListener(channels[name], handler);
}

const api = {
  getAppInfo: () => ipcRenderer.invoke(channels.getAppInfo),
  getState: () => ipcRenderer.invoke(channels.getState),
  selectContext: (name) => ipcRenderer.invoke(channels.selectContext, name),
  connect: () => ipcRenderer.invoke(channels.connect),
  disconnect: () => ipcRenderer.invoke(channels.disconnect),
  expose: (request) => ipcRenderer.invoke(channels.expose, request),
  stopExpose: (target) => ipcRenderer.invoke(channels.stopExpose, target),
  getEnvironment: (target) => ipcRenderer.invoke(channels.getEnvironment, target),
  openTerminal: (target) => ipcRenderer.invoke(channels.openTerminal, target),
  planProject: (path) => ipcRenderer.invoke(channels.planProject, path),
  projectUp: (path) => ipcRenderer.invoke(channels.projectUp, path),
  projectDown: (path) => ipcRenderer.invoke(channels.projectDown, path),
  getSettings: () => ipcRenderer.invoke(channels.getSettings),
  updateSettings: (settings) => ipcRenderer.invoke(channels.updateSettings, settings),
  onState: (listener) => subscribe('onState', listener),
  onFocusTunnel: (listener) => subscribe('onFocusTunnel', listener),
} satisfies LocalizerApi;

contextBridge.exposeInMainWorld('localizer', api);
