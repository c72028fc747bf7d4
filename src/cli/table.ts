/** Plain-text tables and the JSON shape of `localizer list`. */
import { formatPort, type TunnelStatus } from '../shared/tunnel-status';

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  return [headers, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/** The `localizer list` table; a CONTEXT column leads when several contexts are connected. */
export function listTable(tunnels: readonly TunnelStatus[]): string {
  const several = new Set(tunnels.map((t) => t.context)).size > 1;
  return renderTable(
    [...(several ? ['CONTEXT'] : []), 'NAMESPACE', 'NAME', 'STATUS', 'REASON', 'ENDPOINT', 'IP', 'PORTS'],
    tunnels.map((t) => [
      ...(several ? [t.context] : []),
      t.namespace,
      t.name,
      t.status,
      t.reason || '-',
      t.endpoint ?? '-',
      t.ip ?? '-',
      t.ports.map(formatPort).join(',') || '-',
    ]),
  );
}

/** The stable JSON of `localizer list --json`. */
export function listJson(tunnels: readonly TunnelStatus[]): unknown[] {
  return tunnels.map((t) => ({
    namespace: t.namespace,
    name: t.name,
    kind: t.kind,
    status: t.status,
    reason: t.reason,
    endpoint: t.endpoint,
    ip: t.ip,
    hostnames: t.hostnames,
    ports: t.ports.map((p) => ({ port: p.port, targetPort: p.targetPort, protocol: p.protocol })),
    context: t.context,
    counters: t.counters,
    lastError: t.lastError,
    lastChange: t.lastChange,
    transport: t.transport ?? null,
    ...(t.mode ? { mode: t.mode } : {}),
    ...(t.route ? { route: t.route } : {}),
  }));
}
