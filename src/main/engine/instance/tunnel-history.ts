/**
 * What happened to the tunnels lately: every change of a tunnel's status (a drop, a recovery, an
 * expose that started or failed) and every tunnel that went away, newest last, up to a limit.
 * `localizer mcp` gives it to coding agents ("why did web/api stop answering at 10:02?"); the
 * list itself only says how things are now.
 */
import type { TunnelStatus } from '../../../shared/tunnel-status';

export interface TunnelEvent {
  /** ISO time the change was seen. */
  at: string;
  context: string;
  kind: TunnelStatus['kind'];
  namespace: string;
  name: string;
  from: TunnelStatus['status'];
  /** `gone`: disconnected, unexposed, or the service was deleted. */
  to: TunnelStatus['status'] | 'gone';
  /** The tunnel's reason after the change (why it dropped), or the last one before it went. */
  reason: string;
}

function key(tunnel: Pick<TunnelStatus, 'context' | 'kind' | 'namespace' | 'name'>): string {
  return `${tunnel.context}/${tunnel.kind}/${tunnel.namespace}/${tunnel.name}`;
}

/**
 * The events between two reads of the tunnel list. A tunnel seen for the first time is not an
 * event (a connect adds hundreds at once, all as they should be); its first change is.
 */
export function tunnelEvents(
  previous: ReadonlyMap<string, TunnelStatus>,
  next: readonly TunnelStatus[],
  at: string,
): TunnelEvent[] {
  const events: TunnelEvent[] = [];
  const seen = new Set<string>();
  const event = (tunnel: TunnelStatus, from: TunnelStatus['status'], to: TunnelEvent['to']): TunnelEvent => ({
    at,
    context: tunnel.context,
    kind: tunnel.kind,
    namespace: tunnel.namespace,
    name: tunnel.name,
    from,
    to,
    reason: tunnel.reason,
  });
  for (const tunnel of next) {
    const id = key(tunnel);
    seen.add(id);
    const before = previous.get(id);
    if (before && before.status !== tunnel.status) events.push(event(tunnel, before.status, tunnel.status));
  }
  for (const [id, before] of previous) if (!seen.has(id)) events.push(event(before, before.status, 'gone'));
  return events;
}

/** How soon after a change the tunnels are read, so one read serves a burst of changes. */
const readDelayMs = 250;

export class TunnelHistory {
  private last = new Map<string, TunnelStatus>();
  private readonly kept: TunnelEvent[] = [];
  private readTimer: NodeJS.Timeout | undefined;

  constructor(private readonly limit = 500) {}

  /** Notes the tunnels as they are now; changes since the last call become events. */
  record(tunnels: readonly TunnelStatus[], at: Date): void {
    this.kept.push(...tunnelEvents(this.last, tunnels, at.toISOString()));
    if (this.kept.length > this.limit) this.kept.splice(0, this.kept.length - this.limit);
    this.last = new Map(tunnels.map((t) => [key(t), t]));
  }

  /** Something changed: the tunnels are read (with `read`) and recorded shortly. */
  recordSoon(read: () => readonly TunnelStatus[]): void {
    this.readTimer ??= setTimeout(() => {
      this.readTimer = undefined;
      this.record(read(), new Date());
    }, readDelayMs).unref();
  }

  stop(): void {
    clearTimeout(this.readTimer);
  }

  /** Oldest first, as of at most `readDelayMs` ago. */
  events(): TunnelEvent[] {
    return [...this.kept];
  }
}
