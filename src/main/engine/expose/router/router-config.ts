/**
 * The personal-intercept router's HAProxy configuration, as a pure function of the Service's
 * ports and the routes held now. HAProxy does the proxying (HTTP/1.1 keep-alive, h2c and gRPC,
 * WebSocket upgrades, health checks, per-request routing on one connection); this module only
 * writes what it should do:
 *
 * - every request whose header value is in the routes map goes to that developer's slot, and
 *   everything else to the origin Service (the Service's own pods);
 * - a slot whose tunnel is down (its health check or a refused connection marks it down) sends
 *   its requests to the origin too, so a laptop that sleeps never shows anyone an error page;
 * - ports that say they speak something else, and connections that speak no HTTP, pass through
 *   as plain TCP; so do a developer's requests on a port they did not map (its slot server stays
 *   in maintenance, so the origin, its backup, takes them).
 *
 * Slots are fixed backends whose server address the runtime API sets when a developer joins, so
 * joining and leaving change the running router without a reload and no open connection drops.
 */

/** How a port's calls are read: as HTTP, as bytes, or looked at first to tell which. */
export type RouterPortKind = 'http' | 'tcp' | 'sniff';

export interface RouterPort {
  /** The Service port, which names the port's sections. */
  servicePort: number;
  /** The port the router listens on: the Service's target port, as its own pods listen. */
  listenPort: number;
  /** The target port's name, when the Service sends to a named port: the router declares it. */
  name?: string;
  /** `tcp`: passed through to the origin untouched, whatever a request carries. */
  kind: RouterPortKind;
}

export interface RouteSlot {
  slot: number;
  /** The header value that selects this slot. */
  value: string;
  /** The developer's SSH pod address; its tunnel listens there. */
  address: string;
  /** The SSH pod's port for each routed Service port. */
  ports: Record<string, number>;
}

export interface RouterConfigInput {
  /** The header whose value routes a request, lower case. */
  header: string;
  ports: readonly RouterPort[];
  /** The origin Service's cluster IP: the Service's own pods, behind their own Service. */
  originAddress: string;
  /** How many developers can hold a route at once. */
  slots: number;
  routes: readonly RouteSlot[];
}

/** Where the router's ConfigMap is mounted in its pod. */
export const routerConfigDirectory = '/usr/local/etc/haproxy';
/**
 * The maps, by their names beside haproxy.cfg (`default-path config`), which is also how the
 * runtime API names them.
 */
export const routesMapPath = 'routes.map';
/**
 * Flags set through the runtime API. `closing`: the Service no longer routes here, so every
 * HTTP/1.1 answer closes its connection, and keep-alive callers reconnect to the Service's own
 * pods before the router goes (an idle connection closed under a caller may fail its next call).
 */
export const flagsMapPath = 'flags.map';
/**
 * The runtime API's port, on the pod's own loopback only: nobody in the cluster can reach it,
 * and Localizer reaches it by port-forward (which dials the pod's localhost).
 */
export const routerAdminPort = 8405;
/**
 * How long a port of unknown protocol waits for the caller's first bytes before passing the
 * connection through as TCP (a protocol where the server speaks first).
 */
const sniffMs = 1000;

/**
 * What a request routed to a developer's machine gets when nothing answers there. One line
 * with no double quote, as it sits in a quoted string of haproxy.cfg (where `\n` is a newline).
 */
export const notAnswering =
  "Localizer personal intercept: this request carries a header value that routes it to a developer's machine, and nothing answered there (is their local server running?). Requests without that header go to the service's own pods.\\n";

/** The HTTP/2 connection preface's start, `PRI * HTTP/2.0`, as hex: an h2c (or gRPC) client. */
const h2Preface = '505249202a20485454502f322e30';

/** Port names (Istio's convention, `http-web`) and appProtocols that say a port speaks HTTP. */
const httpNames = /^(http|http2|h2c|grpc|grpc-web|ws|websocket|web)(-|$)/;
const httpAppProtocols = new Set(['http', 'http2', 'h2c', 'grpc', 'kubernetes.io/h2c', 'kubernetes.io/ws']);
/** Ports that say they speak something else: their bytes are never parsed. */
const tcpNames = /^(tcp|tls|https|mongo|mysql|redis|postgres|amqp|kafka|mqtt|nats|zookeeper)(-|$)/;
const tcpAppProtocols = new Set(['tcp', 'tls', 'https', 'kubernetes.io/wss']);

/** How a Service port's traffic is read, from its name and appProtocol. */
export function portKind(port: { name?: string; appProtocol?: string }): RouterPortKind {
  const appProtocol = port.appProtocol?.toLowerCase();
  if (appProtocol && httpAppProtocols.has(appProtocol)) return 'http';
  if (appProtocol && tcpAppProtocols.has(appProtocol)) return 'tcp';
  const name = port.name?.toLowerCase() ?? '';
  if (httpNames.test(name)) return 'http';
  if (tcpNames.test(name)) return 'tcp';
  return 'sniff';
}

/** The backend of a slot or of the origin, for one port and protocol. */
function backendName(route: string, servicePort: number, protocol: 'h1' | 'h2' | 'tcp'): string {
  return `${route}_p${String(servicePort)}_${protocol}`;
}

export function slotName(slot: number): string {
  return `s${String(slot)}`;
}

/** The server line's name for a slot's laptop, as the runtime API addresses it. */
export function laptopServer(slot: number, servicePort: number, protocol: 'h1' | 'h2'): string {
  return `${backendName(slotName(slot), servicePort, protocol)}/laptop`;
}

function frontend(port: RouterPort, header: string): string[] {
  // An HTTP port is read as HTTP from the first byte (HAProxy tells h2c from HTTP/1.1 by the
  // preface); any other is read as bytes, and switched to HTTP when its first bytes are.
  const http = port.kind === 'http';
  const lines = [
    `frontend p${String(port.servicePort)}`,
    `  bind "\${POD_IP}:${String(port.listenPort)}"`,
    `  mode ${http ? 'http' : 'tcp'}`,
  ];
  const origin = backendName('o', port.servicePort, http ? 'h1' : 'tcp');
  if (port.kind === 'tcp') return [...lines, `  default_backend ${origin}`];
  if (port.kind === 'sniff')
    lines.push(
      `  tcp-request inspect-delay ${String(sniffMs)}ms`,
      `  tcp-request content switch-mode http proto h2 if { req.payload(0,14) -m bin ${h2Preface} }`,
      '  tcp-request content switch-mode http if HTTP',
    );
  const found = `req.hdr(${header}),map(${routesMapPath})`;
  lines.push(
    // Evaluated per request, so one keep-alive connection or h2 connection can carry both.
    '  http-request set-var(txn.route) str(o)',
    `  http-request set-var(txn.route) ${found} if { ${found} -m found }`,
    '  http-request set-var(txn.proto) str(h1)',
    '  http-request set-var(txn.proto) str(h2) if { req.ver 2.0 }',
    `  use_backend %[var(txn.route)]_p${String(port.servicePort)}_%[var(txn.proto)]`,
    `  http-response set-header connection close if { str(closing),map(${flagsMapPath}) -m found }`,
    `  default_backend ${origin}`,
  );
  return lines;
}

function originBackends(port: RouterPort, originAddress: string): string[] {
  const server = `${originAddress}:${String(port.servicePort)}`;
  const lines = [
    `backend ${backendName('o', port.servicePort, 'tcp')}`,
    '  mode tcp',
    `  server origin ${server}`,
  ];
  if (port.kind === 'tcp') return lines;
  return [
    ...lines,
    `backend ${backendName('o', port.servicePort, 'h1')}`,
    '  mode http',
    `  server origin ${server}`,
    `backend ${backendName('o', port.servicePort, 'h2')}`,
    '  mode http',
    `  server origin ${server} proto h2`,
  ];
}

function slotBackends(
  port: RouterPort,
  slot: number,
  route: RouteSlot | undefined,
  originAddress: string,
): string[] {
  const target = route?.ports[String(port.servicePort)];
  // Unused slots wait in maintenance with a placeholder address the runtime API replaces.
  const address = route && target ? `${route.address}:${String(target)}` : '127.0.0.1:1';
  const state = route && target ? '' : ' disabled';
  const origin = `${originAddress}:${String(port.servicePort)}`;
  return (['h1', 'h2'] as const).flatMap((protocol) => {
    const h2 = protocol === 'h2' ? ' proto h2' : '';
    return [
      `backend ${backendName(slotName(slot), port.servicePort, protocol)}`,
      '  mode http',
      // A tunnel that just dropped may accept a connection and close it unanswered: such a GET
      // is tried again (on the origin, once the laptop is down); a request that may have been
      // carried out is never sent twice.
      '  retry-on conn-failure empty-response',
      '  http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS',
      // The tunnel is up but nothing answers behind it (the developer's server is stopped):
      // said in words, to whoever sent the header, instead of HAProxy's bare error page.
      ...([502, 503, 504] as const).map(
        (status) =>
          `  http-error status ${String(status)} content-type "text/plain; charset=utf-8" string "${notAnswering}"`,
      ),
      // A TCP check, not an HTTP one, so the developer's server sees no stream of health-check
      // requests: the tunnel's listener goes when the tunnel does, and a refused connection
      // marks the laptop down at once (the retry then goes to the backup, the origin).
      `  server laptop ${address}${h2}${state} check inter 2s fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down`,
      `  server origin ${origin}${h2} backup`,
    ];
  });
}

/** haproxy.cfg for the router, with the routes held now (so a restarted router keeps them). */
export function renderRouterConfig(input: RouterConfigInput): string {
  const header = input.header.toLowerCase();
  const lines = [
    '# Written by Localizer for a personal intercept; changed live through the runtime API.',
    'global',
    '  default-path config',
    `  stats socket "ipv4@\${LOCALIZER_POD_LOOPBACK-127.0.0.1}:${String(routerAdminPort)}" level admin`,
    'defaults',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    '  timeout check 2s',
    // A connection that fails is tried again; in a slot, once its laptop is marked down, on the
    // slot's backup, the origin.
    '  option redispatch 1',
    '  retries 3',
  ];
  for (const port of input.ports) {
    lines.push(...frontend(port, header), ...originBackends(port, input.originAddress));
    if (port.kind === 'tcp') continue;
    for (let slot = 0; slot < input.slots; slot++)
      lines.push(
        ...slotBackends(
          port,
          slot,
          input.routes.find((route) => route.slot === slot),
          input.originAddress,
        ),
      );
  }
  return `${lines.join('\n')}\n`;
}

/** The routes map: `value slot` per line, as HAProxy's map converter reads it. */
export function renderRoutesMap(routes: readonly RouteSlot[]): string {
  return routes.map((route) => `${route.value} ${slotName(route.slot)}\n`).join('');
}

/**
 * The runtime API commands that make a running router hold exactly `routes`: each held slot's
 * servers at its developer's tunnel (ready for the ports they mapped, in maintenance for the
 * rest), every other slot in maintenance. Idempotent, so whoever changes the routes (a join, a
 * leave, a cleanup) and whoever notices a change sends the same commands for the same state.
 * Maintenance keeps the calls a server carries; it only takes no new ones.
 */
export function serverCommands(
  routes: readonly RouteSlot[],
  ports: readonly RouterPort[],
  slots: number,
): string[] {
  const commands: string[] = [];
  for (let slot = 0; slot < slots; slot++) {
    const route = routes.find((r) => r.slot === slot);
    for (const port of ports) {
      if (port.kind === 'tcp') continue;
      const target = route?.ports[String(port.servicePort)];
      for (const protocol of ['h1', 'h2'] as const) {
        const server = laptopServer(slot, port.servicePort, protocol);
        if (route && target !== undefined)
          commands.push(
            `set server ${server} addr ${route.address} port ${String(target)}`,
            `set server ${server} state ready`,
          );
        else commands.push(`set server ${server} state maint`);
      }
    }
  }
  return commands;
}

/**
 * The commands that replace the routes map with `routes` as one version (`prepare map` gave
 * `version`): a request sees the old map or the new one, never a mix, and a version prepared
 * earlier can no longer be committed over a later one (HAProxy refuses it).
 */
export function mapCommands(routes: readonly RouteSlot[], version: number): string[] {
  const at = `@${String(version)}`;
  return [
    ...routes.map((route) => `add map ${at} ${routesMapPath} ${route.value} ${slotName(route.slot)}`),
    `commit map ${at} ${routesMapPath}`,
  ];
}

export const prepareMapCommand = `prepare map ${routesMapPath}`;

/** The command that makes every HTTP/1.1 answer close its connection (see `flagsMapPath`). */
export function closingCommands(): string[] {
  return [`add map ${flagsMapPath} closing 1`];
}
