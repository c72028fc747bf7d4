import { describe, expect, it } from 'vitest';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import { TunnelHistory, tunnelEvents } from './tunnel-history';

function tunnel(name: string, status: TunnelStatus['status'], reason = ''): TunnelStatus {
  return {
    context: 'dev',
    kind: 'forward',
    namespace: 'web',
    name,
    status,
    reason,
    endpoint: null,
    ip: null,
    hostnames: [],
    ports: [],
    counters: { connections: 0, activeConnections: 0, bytesIn: 0, bytesOut: 0, reconnects: 0 },
    lastError: null,
    lastChange: '2026-12-03T10:00:00.000Z',
  };
}

const byKey = (tunnels: TunnelStatus[]) =>
  new Map(tunnels.map((t) => [`${t.context}/${t.kind}/${t.namespace}/${t.name}`, t]));

describe('tunnel events', () => {
  const at = '2026-12-03T10:02:00.000Z';
  it.each([
    { case: 'a first sight is no event', before: [], after: [tunnel('api', 'running')], events: [] },
    {
      case: 'no change, no event',
      before: [tunnel('api', 'running')],
      after: [tunnel('api', 'running')],
      events: [],
    },
    {
      case: 'a drop, with why',
      before: [tunnel('api', 'running')],
      after: [tunnel('api', 'reconnecting', 'the last connection failed: ECONNRESET')],
      events: [['api', 'running', 'reconnecting', 'the last connection failed: ECONNRESET']],
    },
    {
      case: 'a recovery',
      before: [tunnel('api', 'waiting', 'no ready pod')],
      after: [tunnel('api', 'running')],
      events: [['api', 'waiting', 'running', '']],
    },
    {
      case: 'gone, with its last reason',
      before: [tunnel('api', 'failed', 'port 80 is taken'), tunnel('db', 'running')],
      after: [tunnel('db', 'running')],
      events: [['api', 'failed', 'gone', 'port 80 is taken']],
    },
  ])('$case', ({ before, after, events }) => {
    expect(tunnelEvents(byKey(before), after, at).map((e) => [e.name, e.from, e.to, e.reason])).toEqual(
      events,
    );
  });

  it('keeps the newest events up to its limit, oldest first', () => {
    const history = new TunnelHistory(3);
    const states: TunnelStatus['status'][] = ['running', 'waiting', 'running', 'failed', 'running'];
    states.forEach((status, i) =>
      history.record([tunnel('api', status)], new Date(Date.UTC(2026, 11, 3, 10, i))),
    );
    expect(history.events().map((e) => `${e.from}→${e.to}@${e.at.slice(11, 16)}`)).toEqual([
      'waiting→running@10:02',
      'running→failed@10:03',
      'failed→running@10:04',
    ]);
  });
});
