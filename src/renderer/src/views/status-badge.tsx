import type { TunnelStatus } from '../../../shared/tunnel-status';

/** A tunnel's state as a coloured badge; the text is the state, so it reads without colour. */
export function StatusBadge({ status }: { status: TunnelStatus['status'] }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}
