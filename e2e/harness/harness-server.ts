/**
 * The browser harness: serves the built renderer over http://127.0.0.1 and implements the same
 * `LocalizerApi` over a WebSocket on the same port, backed by a real `LocalizerBackend` connected
 * to the given kubeconfig (no mock). Loopback only; the socket needs the per-run token, and its
 * Origin must be the harness's own. Names stay off here (no privileged helper).
 */
import { timingSafeEqual, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { apiArgumentSchemas, type ApiCallName } from '../../src/shared/api';
import { failure } from '../../src/shared/result';
import { defaultSettings, migrateSettings, settingsVersion, type Settings } from '../../src/shared/settings';
import { openLocalizer, type OpenedLocalizer } from '../../src/main/engine/open-localizer';
import type { LocalizerBackend, SettingsStore } from '../../src/main/engine/localizer-backend';

export interface HarnessOptions {
  /** The built renderer (`index.html` and assets). */
  rendererDirectory: string;
  kubeconfig: string;
  stateDirectory: string;
  port?: number;
  /** Settings to start from, over the defaults (e.g. an address range of its own in tests). */
  settings?: Partial<Settings>;
  log?: (message: string) => void;
}

export interface Harness {
  url: string;
  backend: LocalizerBackend;
  localizer: OpenedLocalizer;
  close(): Promise<void>;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Settings in a JSON file in the state directory, versioned like the app's electron-store. */
function fileSettings(stateDirectory: string, initial: Partial<Settings>): SettingsStore {
  const file = join(stateDirectory, 'settings.json');
  let current: Settings;
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { version?: number; settings?: unknown };
    current = migrateSettings(stored.settings, stored.version ?? 1);
  } else current = { ...defaultSettings, ...initial };
  const save = (): void =>
    writeFileSync(file, JSON.stringify({ version: settingsVersion, settings: current }, null, 2));
  save();
  return {
    get: () => current,
    set: (settings) => {
      current = settings;
      save();
    },
  };
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  mkdirSync(options.stateDirectory, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  // The same instance the app runs: `localizer` commands with this state directory drive it.
  const opened = await openLocalizer({
    kind: 'harness',
    appInfo: { version: '0.1.0', platform: process.platform, electron: null },
    stateDirectory: options.stateDirectory,
    settings: fileSettings(options.stateDirectory, options.settings ?? {}),
    kubeconfig: options.kubeconfig,
    ...(options.log ? { log: options.log } : {}),
  });
  const backend = opened.api;
  // As the app does at start: undo what a killed earlier run left.
  void opened.instance.recoverEarlierRuns();
  const indexHtml = readFileSync(join(options.rendererDirectory, 'index.html'), 'utf8').replace(
    '</head>',
    `<meta name="localizer-harness-token" content="${token}" /></head>`,
  );

  const serveFile = (request: IncomingMessage, response: ServerResponse): void => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    if (path === '/' || path === '/index.html') {
      response.writeHead(200, { 'Content-Type': contentTypes['.html'] ?? '', 'Cache-Control': 'no-store' });
      response.end(indexHtml);
      return;
    }
    const file = join(options.rendererDirectory, path);
    if (!file.startsWith(options.rendererDirectory) || !existsSync(file)) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'Content-Type': contentTypes[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  };

  const server = createServer(serveFile);
  const sockets = new WebSocketServer({ noServer: true });
  let origin = '';
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (
      url.pathname !== '/api' ||
      !sameToken(url.searchParams.get('token') ?? '', token) ||
      request.headers.origin !== origin
    ) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => serve(ws));
  });

  const serve = (ws: WebSocket): void => {
    const send = (message: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const onState = (state: unknown): void => send({ event: 'onState', payload: state });
    const onFocus = (target: unknown): void => send({ event: 'onFocusTunnel', payload: target });
    backend.on('state', onState);
    backend.on('focusTunnel', onFocus);
    ws.on('close', () => {
      backend.off('state', onState);
      backend.off('focusTunnel', onFocus);
    });
    ws.on('message', (data: Buffer) => {
      void (async () => {
        let id: unknown;
        try {
          const message = JSON.parse(data.toString()) as { id?: unknown; method?: unknown; args?: unknown };
          id = message.id;
          const method = message.method as ApiCallName;
          const schema = typeof method === 'string' ? apiArgumentSchemas[method] : undefined;
          if (!schema) {
            send({ id, result: failure('invalid-input', `Unknown method ${JSON.stringify(method)}.`) });
            return;
          }
          const parsed = schema.safeParse(message.args);
          if (!parsed.success) {
            send({
              id,
              result: failure(
                'invalid-input',
                `Invalid arguments for ${method}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
              ),
            });
            return;
          }
          // Each schema matches its method's parameters (checked in src/shared/api.ts).
          const call = backend[method].bind(backend) as (...args: unknown[]) => Promise<unknown>;
          send({ id, result: await call(...(parsed.data as unknown[])) });
        } catch (error) {
          send({ id, result: failure('internal', error instanceof Error ? error.message : String(error)) });
        }
      })();
    });
  };

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${String(port)}`;
  return {
    url: `${origin}/`,
    backend,
    localizer: opened,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      await opened.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
