/** Small formatting helpers shared by the views. */
import { formatPort, type TunnelStatus } from '../../shared/tunnel-status';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${String(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit] ?? ''}`;
}

/**
 * Each port as the window shows it: `80->8080/tcp` for a forward; for an expose, where the
 * target is this machine, `8080 → 127.0.0.1:3000`.
 */
export function portLabels(tunnel: TunnelStatus): string[] {
  if (tunnel.kind === 'expose')
    return tunnel.ports.map((p) => `${String(p.port)} → 127.0.0.1:${String(p.targetPort)}`);
  return tunnel.ports.map(formatPort);
}

/** The ports, each kept whole on one line; a dash when there are none. */
export function Ports(props: { tunnel: TunnelStatus }) {
  const labels = portLabels(props.tunnel);
  if (labels.length === 0) return <>–</>;
  return (
    <>
      {labels.map((label, index) => (
        <span key={label}>
          <span className="nowrap">{label}</span>
          {index < labels.length - 1 ? ', ' : ''}
        </span>
      ))}
    </>
  );
}

export function tunnelKey(tunnel: { namespace: string; name: string; kind?: string }): string {
  return `${tunnel.kind ?? ''}/${tunnel.namespace}/${tunnel.name}`;
}
