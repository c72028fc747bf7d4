/**
 * When to tell the user something with a desktop notification, as a pure function of two
 * consecutive app states: a tunnel dropped, it recovered, the cluster became unreachable or came
 * back, and what was cleaned up after an earlier run that was killed. Drops in one namespace at
 * once become one notification; a tunnel that drops again soon after a notice (flapping) is not
 * announced again; a recovery is announced only for a drop that was. Unit-tested without
 * Electron; notifications.ts shows what it returns.
 */
import type { AppState, CleanupNotice } from '../../shared/app-state';
import type { TunnelStatus } from '../../shared/tunnel-status';

export interface NotificationIntent {
  title: string;
  body: string;
  /** The tunnel a click shows, or null for the window's overview. */
  target: { namespace: string; name: string } | null;
}

export interface PolicyMemory {
  /** Tunnels whose drop was announced and that have not recovered: key → when announced. */
  announcedDrops: Record<string, number>;
  /** When each tunnel's last drop was announced, to hold back flapping ones. */
  lastDropNotice: Record<string, number>;
  clusterUnreachable: boolean;
}

export const emptyMemory: PolicyMemory = {
  announcedDrops: {},
  lastDropNotice: {},
  clusterUnreachable: false,
};

export interface PolicyInput {
  previous: AppState;
  next: AppState;
  now: number;
  memory: PolicyMemory;
  /** The user's setting. While off nothing is announced, so no recovery is announced later either. */
  enabled: boolean;
  /** A tunnel announced as dropped within this window is not announced again. */
  flapWindowMs?: number;
}

function key(tunnel: TunnelStatus): string {
  return `${tunnel.context}/${tunnel.kind}/${tunnel.namespace}/${tunnel.name}`;
}

function isDown(tunnel: TunnelStatus): boolean {
  return tunnel.status === 'reconnecting' || tunnel.status === 'failed' || tunnel.status === 'waiting';
}

/** One intent per namespace: `web/api dropped` or `3 tunnels in namespace web dropped`. */
function coalesce(tunnels: readonly TunnelStatus[], verb: 'dropped' | 'recovered'): NotificationIntent[] {
  const byNamespace = new Map<string, TunnelStatus[]>();
  for (const tunnel of tunnels)
    byNamespace.set(tunnel.namespace, [...(byNamespace.get(tunnel.namespace) ?? []), tunnel]);
  return [...byNamespace.entries()].map(([namespace, group]) => {
    const first = group[0] as TunnelStatus;
    if (group.length === 1) {
      return {
        title: `${namespace}/${first.name} ${verb}`,
        body: verb === 'dropped' ? first.reason || 'The tunnel is down.' : 'The tunnel works again.',
        target: { namespace, name: first.name },
      };
    }
    return {
      title: `${String(group.length)} tunnels in namespace ${namespace} ${verb}`,
      body: group.map((t) => t.name).join(', '),
      target: { namespace, name: first.name },
    };
  });
}

/** What Localizer put back after an earlier run of its own was killed, so nobody wonders why pods came back. */
function cleanupIntent(cleanup: CleanupNotice): NotificationIntent {
  const lines = [...cleanup.done, ...cleanup.failed.map((line) => `could not undo: ${line}`)];
  return {
    title: cleanup.failed.length
      ? `Localizer could not undo everything its last run left in ${cleanup.context}`
      : `Localizer cleaned up after its last run in ${cleanup.context}`,
    body: lines.join('; '),
    target: null,
  };
}

export function notificationPolicy(input: PolicyInput): {
  intents: NotificationIntent[];
  memory: PolicyMemory;
} {
  const { previous, next, now } = input;
  const flapWindowMs = input.flapWindowMs ?? 60_000;
  const memory: PolicyMemory = {
    announcedDrops: { ...input.memory.announcedDrops },
    lastDropNotice: { ...input.memory.lastDropNotice },
    clusterUnreachable: input.memory.clusterUnreachable,
  };
  const intents: NotificationIntent[] = [];
  const context = next.connection.context ?? previous.connection.context ?? 'the cluster';

  const unreachable = next.connection.state !== 'disconnected' && !next.connection.apiReachable;
  if (unreachable && !memory.clusterUnreachable) {
    intents.push({
      title: `Lost contact with ${context}`,
      body: `${next.connection.reason || 'The API server cannot be reached.'} Tunnels come back by themselves when it answers again.`,
      target: null,
    });
  } else if (!unreachable && memory.clusterUnreachable && next.connection.state !== 'disconnected') {
    intents.push({
      title: `Back in contact with ${context}`,
      body: 'The cluster answers again.',
      target: null,
    });
  }
  memory.clusterUnreachable = unreachable;

  const before = new Map(previous.tunnels.map((t) => [key(t), t]));
  const dropped: TunnelStatus[] = [];
  const recovered: TunnelStatus[] = [];
  for (const tunnel of next.tunnels) {
    const id = key(tunnel);
    const was = before.get(id);
    if (was?.status === 'running' && isDown(tunnel)) {
      const last = memory.lastDropNotice[id];
      // While the cluster is unreachable every tunnel drops: that is one notice, not hundreds.
      if (input.enabled && !unreachable && (last === undefined || now - last >= flapWindowMs)) {
        dropped.push(tunnel);
        memory.announcedDrops[id] = now;
        memory.lastDropNotice[id] = now;
      }
    } else if (tunnel.status === 'running' && memory.announcedDrops[id] !== undefined) {
      recovered.push(tunnel);
      // The tunnel recovered; ignore the old record in the next state.
      const { [id]: _recovered, ...rest } = memory.announcedDrops;
      memory.announcedDrops = rest;
    }
  }
  // Tunnels that are gone (service deleted, disconnected) will not recover: forget them.
  const present = new Set(next.tunnels.map(key));
  memory.announcedDrops = Object.fromEntries(
    Object.entries(memory.announcedDrops).filter(([id]) => present.has(id)),
  );

  intents.push(...coalesce(dropped, 'dropped'), ...coalesce(recovered, 'recovered'));
  const cleanup = next.cleanup;
  if (cleanup && cleanup.id !== previous.cleanup?.id) intents.push(cleanupIntent(cleanup));
  const ended = next.exposeEnded;
  if (ended && ended.id !== previous.exposeEnded?.id)
    intents.push({
      title: `${ended.namespace}/${ended.service} is no longer exposed`,
      body: ended.reason,
      target: null,
    });
  return { intents: input.enabled ? intents : [], memory };
}
