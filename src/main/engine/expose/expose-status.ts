/**
 * What `list`, the window and the tray show of one expose: its state and the words for it, as a
 * function of what the session knows, so each wording is in one place.
 */
import {
  describeRoute,
  takeoverLimits,
  type ExposeMode,
  type ExposeState,
  type TunnelStatus,
} from '../../../shared/tunnel-status';
import type { ExposeRequest } from './expose-request';
import type { ExposedPort } from './port-map';
import type { TunnelCounters as TunnelTraffic } from './reverse-tunnel';

/** The reason a running expose shows: the local problem, a personal route, or what a takeover does not move. */
export function runningReason(facts: {
  mode: ExposeMode;
  header: ExposeRequest['header'];
  localProblem: string | null;
  /** Who else's routes the personal intercept's router carries. */
  sharedWith: readonly string[];
}): string {
  if (facts.localProblem) return facts.localProblem;
  if (facts.mode === 'personal' && facts.header) {
    const shared =
      facts.sharedWith.length > 0 ? `; its router is shared with ${facts.sharedWith.join(', ')}` : '';
    return `personal: requests with ${describeRoute(facts.header)} come here; every other request goes to the service's own pods${shared}`;
  }
  return facts.mode === 'takeover' ? takeoverLimits : '';
}

/** A personal intercept's reason while its tunnel is down: where its requests go meanwhile. */
export function meanwhileNote(mode: ExposeMode, header: ExposeRequest['header']): string {
  // The router's health check sends a personal intercept's requests to the service's own pods
  // while its tunnel is down: said, as it is what its callers see.
  return mode === 'personal' && header
    ? `; meanwhile ${describeRoute(header)} requests go to the service's own pods`
    : '';
}

export interface ExposeFacts {
  context: string;
  request: ExposeRequest;
  mode: ExposeMode;
  state: ExposeState;
  reason: string;
  podName: string | null;
  ports: readonly ExposedPort[];
  counters: TunnelTraffic;
  reconnects: number;
  lastError: string | null;
  lastChange: string;
  transport: TunnelStatus['transport'];
  sharedWith: readonly string[];
}

export function exposeStatus(facts: ExposeFacts): TunnelStatus {
  const { namespace, service, header } = facts.request;
  return {
    context: facts.context,
    kind: 'expose',
    namespace,
    name: service,
    status: facts.state,
    reason: facts.reason,
    endpoint: facts.podName,
    ip: null,
    hostnames: [],
    // For an expose, the target is the port on this machine.
    ports: facts.ports.map((p) => ({ port: p.servicePort, targetPort: p.localPort, protocol: 'TCP' })),
    counters: { ...facts.counters, reconnects: facts.reconnects },
    lastError: facts.lastError,
    lastChange: facts.lastChange,
    transport: facts.transport,
    mode: facts.mode,
    ...(header
      ? { route: { header: header.name, value: header.value, sharedWith: [...facts.sharedWith] } }
      : {}),
  };
}

/** What a stop that finished with `notice` (restored workloads slow to be ready) tells the user. */
export function stopNotice(notice: string, namespace: string): string {
  return notice.includes('still not ready')
    ? `${notice}. The SSH pod was removed anyway, so the service may have no ready pod for now; see why with \`kubectl -n ${namespace} get pods\`.`
    : `${notice}.`;
}
