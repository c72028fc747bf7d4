/**
 * `LocalizerApi` over the browser harness's WebSocket, for running the renderer in a plain
 * browser (e2e tests, UI work without Electron). The harness puts its token in a meta tag; the
 * socket is on the page's own origin, so the CSP's `connect-src 'self'` covers it.
 */
import type { ApiCallName, ApiEventName, IpcErrorCode, LocalizerApi } from '../../shared/api';
import type { Result } from '../../shared/result';

export function harnessToken(): string | null {
  return document.querySelector<HTMLMetaElement>('meta[name="localizer-harness-token"]')?.content ?? null;
}

export function createHarnessApi(token: string): LocalizerApi {
  const socket = new WebSocket(`ws://${location.host}/api?token=${encodeURIComponent(token)}`);
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve());
    socket.addEventListener('error', () => reject(new Error('cannot reach the harness')));
  });
  let nextId = 1;
  const pending = new Map<number, (result: Result<unknown, IpcErrorCode>) => void>();
  const listeners: Record<ApiEventName, Set<(payload: never) => void>> = {
    onState: new Set(),
    onFocusTunnel: new Set(),
  };
  socket.addEventListener('message', (event: MessageEvent<string>) => {
    const message = JSON.parse(event.data) as
      { id: number; result: Result<unknown, IpcErrorCode> } | { event: ApiEventName; payload: never };
    if ('event' in message) for (const listener of listeners[message.event]) listener(message.payload);
    else pending.get(message.id)?.(message.result);
  });
  socket.addEventListener('close', () => {
    for (const resolve of pending.values())
      resolve({ ok: false, code: 'internal', message: 'The harness closed the connection.' });
    pending.clear();
  });

  const call =
    (method: ApiCallName) =>
    async (...args: unknown[]): Promise<Result<unknown, IpcErrorCode>> => {
      await opened;
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        socket.send(JSON.stringify({ id, method, args }));
      });
    };
  const subscribe =
    (name: ApiEventName) =>
    (listener: (payload: never) => void): (() => void) => {
      listeners[name].add(listener);
      return () => listeners[name].delete(listener);
    };
  // Each call resolves with the Result its method declares; the harness validates the arguments.
  return {
    getAppInfo: call('getAppInfo'),
    getState: call('getState'),
    selectContext: call('selectContext'),
    connect: call('connect'),
    disconnect: call('disconnect'),
    expose: call('expose'),
    planProject: call('planProject'),
    projectUp: call('projectUp'),
    projectDown: call('projectDown'),
    stopExpose: call('stopExpose'),
    getEnvironment: call('getEnvironment'),
    openTerminal: call('openTerminal'),
    getSettings: call('getSettings'),
    updateSettings: call('updateSettings'),
    onState: subscribe('onState'),
    onFocusTunnel: subscribe('onFocusTunnel'),
  } as LocalizerApi;
}
