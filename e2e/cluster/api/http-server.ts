/**
 * The API server's HTTPS front: authentication, routing of REST paths to the registry, watches,
 * Tables for kubectl, upgrades for port-forward, and the faults that tests inject into it
 * (dropping every connection, restarting on the same port).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { authorize, type Authenticator, type User } from './auth';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, serverVersion } from './discovery';
import { ApiError, errors } from './status-errors';
import { openApiDocument, openApiIndex } from './openapi';
import type { KubeObject } from './objects';
import { decodeKubeProtobuf, isKubeProtobuf } from './protobuf/kube-protobuf';
import { parseBody, type DeleteOptions, type Registry } from './registry';
import { apiVersionOf, findResourceType, resourceTypeOfKind, type ResourceType } from './resources';
import { parseFieldSelector, parseLabelSelector, type ObjectMatcher } from './selectors';
import type { ObjectStore } from './store';
import { toTable, wantsTable, type IncludeObject } from './tables';
import { serveWatch } from './watch';

/** A parsed resource path: `/api/v1/namespaces/web/pods/api-0/portforward`. */
export interface ResourcePath {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

/** Handles a connection upgrade (port-forward) for an authenticated user on a resource path. */
export type UpgradeHandler = (context: {
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  user: User;
  path: ResourcePath;
}) => void;

/** Handles a non-REST request (pod logs, the test admin API); returns false when the path is not its own. */
export type ExtraRoute = (context: {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  user: User;
  body: string;
  path: ResourcePath | undefined;
}) => Promise<boolean> | boolean;

export interface ApiServerOptions {
  store: ObjectStore;
  registry: Registry;
  auth: Authenticator;
  tls: { key: string; cert: string };
  onUpgrade: UpgradeHandler;
  extraRoutes: ExtraRoute[];
  host?: string;
  port?: number;
  log?: (message: string) => void;
}

const maxBodyBytes = 3 * 1024 * 1024;

/** Splits a REST path into its resource parts; undefined when the path names no resource. */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p.length > 0)
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  const version = parts[0] === 'api' ? 'v1' : (parts[2] ?? '');
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (!resource || extra.length > 0) return undefined;
  const type = findResourceType(group, version, resource);
  if (!type) return undefined;
  // A cluster-scoped resource under a namespace is no resource path (`/namespaces/{name}/status`
  // is the namespace's own subresource, which namespaceSelfPath reads).
  if (!type.namespaced && namespace !== undefined) return undefined;
  return { type, namespace, name, subresource };
}

function namespaceSelfPath(pathname: string): ResourcePath | undefined {
  const match = /^\/api\/v1\/namespaces\/([^/]+)(?:\/(status|finalize))?\/?$/.exec(pathname);
  if (!match) return undefined;
  const type = findResourceType('', 'v1', 'namespaces');
  if (!type) return undefined;
  return { type, namespace: undefined, name: decodeURIComponent(match[1] ?? ''), subresource: match[2] };
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function sendError(response: ServerResponse, error: unknown, log: (m: string) => void): void {
  const apiError =
    error instanceof ApiError
      ? error
      : errors.internal(error instanceof Error ? error.message : String(error));
  if (!(error instanceof ApiError))
    log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  sendJson(response, apiError.code, apiError.toStatus());
}

/**
 * The request body as text: JSON as sent, and a protobuf body (kubectl's imperative commands)
 * decoded into the same JSON, so every verb below reads one form.
 */
async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes)
      throw new ApiError(413, 'BadRequest', 'Request entity too large: limit is 3145728');
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length > 0 && isKubeProtobuf(request.headers['content-type']))
    return JSON.stringify(decodeKubeProtobuf(bytes));
  return bytes.toString('utf8');
}

function deleteOptions(url: URL, body: string): DeleteOptions {
  const options: DeleteOptions = {};
  if (body.trim()) {
    const parsed = JSON.parse(body) as DeleteOptions;
    Object.assign(options, parsed);
  }
  const grace = url.searchParams.get('gracePeriodSeconds');
  if (grace !== null) options.gracePeriodSeconds = Number(grace);
  const propagation = url.searchParams.get('propagationPolicy');
  if (propagation) options.propagationPolicy = propagation as DeleteOptions['propagationPolicy'];
  return options;
}

/** Query booleans as the API server's Go parser reads them: Python sends `True`. */
export function parseGoBool(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value);
}

function listKind(type: ResourceType): string {
  return `${type.kind}List`;
}

function hold(socket: Socket): void {
  socket.pause();
  socket.cork();
}

function release(socket: Socket): void {
  socket.uncork();
  socket.resume();
}

/**
 * The documents served at fixed paths to an authenticated GET (`/version` and the health checks
 * answer anyone first, as system:public-info-viewer lets them): the OpenAPI v3 index and
 * documents, and discovery. An `answer` of undefined is a
 * path of that shape that names nothing (an unknown group), which is a 404.
 */
const documentRoutes: { path: RegExp; answer: (match: RegExpExecArray, hostPort: string) => unknown }[] = [
  { path: /^\/openapi\/v3$/, answer: () => openApiIndex() },
  {
    path: /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/,
    answer: (m) => openApiDocument(m[2] ?? '', m[1] ?? m[3] ?? ''),
  },
  { path: /^\/api$/, answer: (_m, hostPort) => apiVersions(hostPort) },
  { path: /^\/apis$/, answer: () => apiGroupList() },
  { path: /^\/api\/v1$/, answer: () => apiResourceList('', 'v1') },
  { path: /^\/apis\/([^/]+)$/, answer: (m) => apiGroup(m[1] ?? '') },
  { path: /^\/apis\/([^/]+)\/([^/]+)$/, answer: (m) => apiResourceList(m[1] ?? '', m[2] ?? '') },
];

/** A request's verb for RBAC, as the API server names it: by method, on a collection or one object. */
const requestVerbs: Record<string, { collection?: Verb; item?: Verb }> = {
  GET: { collection: 'list', item: 'get' },
  POST: { collection: 'create' },
  PUT: { item: 'update' },
  PATCH: { item: 'patch' },
  DELETE: { collection: 'deletecollection', item: 'delete' },
};

type Verb = 'list' | 'get' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** The API server. `start()` listens; faults close and reopen it on the same port. */
export class ApiServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Requests served since start, upgrades included; benchmarks read it to count idle traffic. */
  requestCount = 0;
  private port: number;
  private readonly host: string;
  private readonly log: (message: string) => void;

  constructor(private readonly options: ApiServerOptions) {
    this.port = options.port ?? 0;
    this.host = options.host ?? '127.0.0.1';
    this.log = options.log ?? (() => undefined);
  }

  get url(): string {
    return `https://${this.host}:${this.port}`;
  }

  async start(): Promise<void> {
    // Go's HTTP server accepts with TCP_NODELAY on, which port-forward latency depends on.
    const server = createServer({ key: this.options.tls.key, cert: this.options.tls.cert, noDelay: true });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      if (this.hung) hold(socket);
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      this.requestCount++;
      this.handle(request, response).catch((error: unknown) => sendError(response, error, this.log));
    });
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.requestCount++;
      this.handleUpgrade(request, socket, head);
    });
    server.on('tlsClientError', () => undefined);
    server.listen(this.port, this.host);
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Cuts every open connection (watches, port-forwards, keep-alive) as a network failure would. */
  private hung = false;

  /**
   * Answers nothing for `ms`, and loses nothing: every connection, open or new, stops reading
   * and holds what it would send (as a server stuck in a long GC or a frozen VM, behind TCP),
   * then carries on. Watches, port-forwards and new requests all wait. (TLS handshakes still
   * complete.)
   */
  async hang(ms: number): Promise<void> {
    this.hung = true;
    for (const socket of this.sockets) hold(socket);
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.hung = false;
    for (const socket of this.sockets) release(socket);
  }

  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = once(server, 'close');
    server.close();
    this.dropConnections();
    await closed;
  }

  /** Stops, stays down for `downtimeMs`, and listens again on the same port. */
  async restart(downtimeMs = 0): Promise<void> {
    await this.stop();
    if (downtimeMs > 0) await new Promise((resolve) => setTimeout(resolve, downtimeMs));
    await this.start();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://localhost');
    // The deprecated watch routes (`/api/v1/watch/…`), which real API servers still serve: the
    // same as the resource path with `?watch=true`.
    const deprecatedWatch = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)\/watch(\/.*)$/.exec(url.pathname);
    if (deprecatedWatch) {
      url.pathname = `${deprecatedWatch[1] ?? ''}${deprecatedWatch[2] ?? ''}`;
      url.searchParams.set('watch', 'true');
    }
    const pathname = url.pathname.replace(/\/+$/, '') || '/';
    if (request.method === 'GET' && pathname === '/version') return sendJson(response, 200, serverVersion);
    if (['/healthz', '/livez', '/readyz'].includes(pathname)) {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.end('ok');
      return;
    }
    const user = this.options.auth.authenticate(request.headers.authorization);
    const body = await readBody(request);
    const path = parseResourcePath(pathname) ?? namespaceSelfPath(pathname);
    for (const route of this.options.extraRoutes) {
      if (await route({ request, response, url, user, body, path })) return;
    }
    if (request.method === 'GET') {
      for (const route of documentRoutes) {
        const match = route.path.exec(pathname);
        if (!match) continue;
        const document = route.answer(match, `${this.host}:${this.port}`);
        if (document === undefined) throw errors.unknownPath();
        return sendJson(response, 200, document);
      }
    }
    if (!path) throw errors.unknownPath();
    this.serveResource(request, response, url, user, body, path);
  }

  private serveResource(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    user: User,
    body: string,
    path: ResourcePath,
  ): void {
    const { type, namespace, name, subresource } = path;
    const { registry } = this.options;
    const method = request.method ?? 'GET';
    const query = url.searchParams;
    const isWatch = parseGoBool(query.get('watch'));
    if (subresource && !(subresource in type.subresources)) throw errors.unknownPath();
    const verbs = requestVerbs[method];
    const verb = isWatch && method === 'GET' ? 'watch' : name === undefined ? verbs?.collection : verbs?.item;
    if (!verb) throw errors.methodNotAllowed();
    authorize(user, {
      verb,
      group: type.group,
      resource: type.resource,
      ...(subresource ? { subresource } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
    });
    if (type.namespaced && namespace === undefined && !['list', 'watch'].includes(verb)) {
      throw errors.notFound(type.resource, type.group, name ?? '');
    }

    // A protobuf body arrives here already as JSON (readBody).
    const sent = request.headers['content-type'] ?? 'application/json';
    const contentType = isKubeProtobuf(sent) ? 'application/json' : sent;
    const table = wantsTable(request.headers.accept)
      ? { includeObject: (query.get('includeObject') ?? 'Metadata') as IncludeObject }
      : undefined;
    const respond = (code: number, object: KubeObject): void => {
      if (table) {
        sendJson(response, code, toTable(type.kind, [object], { ...table, withColumns: true }));
      } else {
        sendJson(response, code, object);
      }
    };

    /** `labelSelector` and `fieldSelector` as one matcher; parsed only by the verbs that take them. */
    const selection = (): ObjectMatcher => {
      const labels = parseLabelSelector(query.get('labelSelector'));
      const fields = parseFieldSelector(query.get('fieldSelector'), type.kind);
      return (object) => labels(object.metadata.labels) && fields(object);
    };

    switch (verb) {
      case 'watch': {
        const selected = selection();
        const byName =
          name !== undefined ? parseFieldSelector(`metadata.name=${name}`, type.kind) : () => true;
        const timeout = query.get('timeoutSeconds');
        serveWatch(
          this.options.store,
          {
            type,
            namespace,
            selects: (o) => selected(o) && byName(o),
            resourceVersion: query.get('resourceVersion') ?? undefined,
            timeoutSeconds: timeout === null ? undefined : Number(timeout),
            allowBookmarks: parseGoBool(query.get('allowWatchBookmarks')),
            sendInitialEvents: parseGoBool(query.get('sendInitialEvents')),
            table,
          },
          response,
        );
        return;
      }
      case 'list': {
        // Listing in a namespace that does not exist is a 404, as on a real API server.
        if (namespace !== undefined && type.namespaced)
          registry.get(resourceTypeOfKind('Namespace'), undefined, namespace);
        const items = registry.list(type, namespace).filter(selection());
        const resourceVersion = String(this.options.store.currentRevision);
        if (table) {
          sendJson(
            response,
            200,
            toTable(type.kind, items, { ...table, resourceVersion, withColumns: true }),
          );
          return;
        }
        sendJson(response, 200, {
          kind: listKind(type),
          apiVersion: apiVersionOf(type),
          metadata: { resourceVersion },
          items: items.map(({ kind: _kind, apiVersion: _apiVersion, ...rest }) => rest),
        });
        return;
      }
      case 'get':
        if (subresource === 'scale')
          return sendJson(response, 200, registry.getScale(type, namespace, name ?? ''));
        return respond(200, registry.get(type, namespace, name ?? ''));
      case 'create':
        return respond(
          201,
          registry.create(type, namespace, parseBody(body, type), { dryRun: query.get('dryRun') === 'All' }),
        );
      case 'update':
        if (subresource === 'scale') {
          return sendJson(
            response,
            200,
            registry.writeScale(type, namespace, name ?? '', parseBody(body, type)),
          );
        }
        return respond(200, registry.update(type, namespace, name ?? '', parseBody(body, type), subresource));
      case 'patch': {
        const patch = parseBody(body, type);
        if (subresource === 'scale') {
          return sendJson(
            response,
            200,
            registry.writeScale(type, namespace, name ?? '', patch, contentType),
          );
        }
        return respond(200, registry.patch(type, namespace, name ?? '', patch, contentType, subresource));
      }
      case 'delete':
        return respond(200, registry.delete(type, namespace, name ?? '', deleteOptions(url, body)));
      case 'deletecollection': {
        const options = deleteOptions(url, body);
        const deleted = registry
          .list(type, namespace)
          .filter(selection())
          .map((o) => registry.delete(type, o.metadata.namespace, o.metadata.name ?? '', options));
        sendJson(response, 200, {
          kind: listKind(type),
          apiVersion: apiVersionOf(type),
          metadata: { resourceVersion: String(this.options.store.currentRevision) },
          items: deleted,
        });
        return;
      }
    }
  }

  private handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const fail = (error: unknown): void => {
      const apiError = error instanceof ApiError ? error : errors.internal(String(error));
      const text = JSON.stringify(apiError.toStatus());
      socket.end(
        `HTTP/1.1 ${apiError.code} ${apiError.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    try {
      const user = this.options.auth.authenticate(request.headers.authorization);
      const url = new URL(request.url ?? '/', 'https://localhost');
      const path = parseResourcePath(url.pathname);
      if (!path?.name || !path.subresource || !(path.subresource in path.type.subresources))
        throw errors.unknownPath();
      authorize(user, {
        verb: request.method === 'POST' ? 'create' : 'get',
        group: path.type.group,
        resource: path.type.resource,
        subresource: path.subresource,
        ...(path.namespace !== undefined ? { namespace: path.namespace } : {}),
        name: path.name,
      });
      this.options.onUpgrade({ request, socket, head, user, path });
    } catch (error) {
      fail(error);
    }
  }
}

export { sendJson, sendError };
