/**
 * The one status model every front end reads: `localizer list`, the tray and the window. Field
 * names are a public contract (`localizer list --json`): add fields, never rename them.
 */

export const forwardStates = ['running', 'waiting', 'reconnecting', 'failed', 'skipped'] as const;
export type ForwardState = (typeof forwardStates)[number];

/**
 * How port-forwards reach pods, in the order they are tried: SPDY tunnelled in a WebSocket
 * (kubectl 1.31+), SPDY on a raw upgrade (older servers), and one WebSocket per connection with
 * the channel protocol (where SPDY is unavailable).
 */
export const portForwardTransports = ['spdy-websocket', 'spdy', 'websocket'] as const;
export type PortForwardTransport = (typeof portForwardTransports)[number];

/** How the window names a transport. */
export const transportLabels: Record<PortForwardTransport, string> = {
  'spdy-websocket': 'SPDY over WebSocket',
  spdy: 'SPDY',
  websocket: 'one WebSocket per connection',
};

/**
 * How an expose takes a Service: `takeover` points the Service's selector at the expose's pod
 * and leaves every workload running (the default); `scale-down` scales the workloads to zero,
 * for what a takeover cannot move (open connections, pod names and IPs, queue consumers);
 * `personal` routes only requests carrying the developer's header value to the laptop, through a
 * router the Service's other developers share.
 */
export const exposeModes = ['takeover', 'scale-down', 'personal'] as const;
export type ExposeMode = (typeof exposeModes)[number];

/**
 * What a takeover does not move, said as a running takeover's reason: the Service's own pods
 * keep running and keep what they already have.
 */
export const takeoverLimits =
  'taken over: new connections to the service come here; connections already open to its pods stay on them until the client reconnects, pod names and IPs are not routed, and queue consumers keep consuming (expose with --scale-down to move those too)';

export const exposeStates = ['starting', 'running', 'reconnecting', 'failed', 'stopping'] as const;
export type ExposeState = (typeof exposeStates)[number];

export interface TunnelPort {
  port: number;
  /** The pod port a connection goes to: a number, or the name of a container port. */
  targetPort: number | string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface TunnelCounters {
  connections: number;
  activeConnections: number;
  bytesIn: number;
  bytesOut: number;
  reconnects: number;
  /** Connections moved to another pod because the first could not take them. */
  retries?: number;
  /** Connections the caller saw fail: no ready pod could take them. */
  failures?: number;
  /** Port-forward sessions to its pods given up and replaced because they stopped answering. */
  stalls?: number;
}

export interface TunnelStatus {
  context: string;
  kind: 'forward' | 'expose';
  namespace: string;
  name: string;
  status: ForwardState | ExposeState;
  /** Why it is in this state, in words a user can act on; empty when running normally. */
  reason: string;
  /** The pod the last connection went to, if any. */
  endpoint: string | null;
  ip: string | null;
  hostnames: string[];
  ports: TunnelPort[];
  counters: TunnelCounters;
  lastError: string | null;
  /** ISO time of the last status change. */
  lastChange: string;
  /** How its connections reach pods, once one has (null before, and for relayed-only forwards). */
  transport?: PortForwardTransport | null;
  /** An expose's mode. */
  mode?: ExposeMode;
  /** A personal intercept's route: the header and value it routes, and who else shares the router. */
  route?: PersonalRoute;
}

export interface PersonalRoute {
  header: string;
  value: string;
  /** The other developers on the same router, `owner (header=value)`. */
  sharedWith: string[];
}

/**
 * A personal intercept's header: an HTTP header name (a token) and a value of letters, digits
 * and `._~-`, so it can be a routing key as written (HAProxy's map and runtime API split on
 * spaces and `;`).
 */
export const routeHeaderName = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const routeHeaderValue = /^[A-Za-z0-9._~-]{1,64}$/;

/**
 * `x-dev=alice` (as `--header` and the project file take it) → the header, its name lower-cased
 * as HTTP compares names, and value; undefined when it is not NAME=VALUE of those.
 */
export function parseRouteHeader(text: string): { name: string; value: string } | undefined {
  const at = text.indexOf('=');
  const name = text.slice(0, at).toLowerCase();
  const value = text.slice(at + 1);
  return at > 0 && routeHeaderName.test(name) && routeHeaderValue.test(value) ? { name, value } : undefined;
}

/** `x-dev=alice`, as the CLI takes and shows a personal intercept's header. */
export function describeRoute(header: { name: string; value: string }): string {
  return `${header.name}=${header.value}`;
}

/** `80->8080/tcp`, as `localizer list` prints a port. */
export function formatPort(port: TunnelPort): string {
  return `${port.port}->${port.targetPort}/${port.protocol.toLowerCase()}`;
}

/** One line per exposed port: `web/api:8080 -> 127.0.0.1:3000`. */
export function describeExposedPorts(status: TunnelStatus): string {
  return status.ports
    .map(
      (port) =>
        `${status.namespace}/${status.name}:${String(port.port)} -> 127.0.0.1:${String(port.targetPort)}`,
    )
    .join('\n');
}
