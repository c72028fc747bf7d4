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

export function formatPorts(tunnel: TunnelStatus): string {
  return tunnel.ports.map(formatPort).join(', ') || '–';
}

export function tunnelKey(tunnel: { namespace: string; name: string; kind?: string }): string {
  return `${tunnel.kind ?? ''}/${tunnel.namespace}/${tunnel.name}`;
}
