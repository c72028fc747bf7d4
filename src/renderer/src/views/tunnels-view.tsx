import { useEffect, useRef, useState } from 'react';
import type { TunnelTarget } from '../../../shared/api';
import type { AppState } from '../../../shared/app-state';
import { formatBytes, formatPorts } from '../format';
import { StatusBadge } from './status-badge';

/** Every forward and expose with its health, counters and last error. */
export function TunnelsView(props: { state: AppState; focus: TunnelTarget | null }) {
  const focused = useRef<HTMLTableRowElement>(null);
  const [stopping, setStopping] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => focused.current?.focus(), [props.focus]);
  const tunnels = [...props.state.tunnels].sort((a, b) =>
    a.kind === b.kind
      ? `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)
      : a.kind === 'expose'
        ? -1
        : 1,
  );
  if (tunnels.length === 0) return <p className="empty">No tunnels: connect, or expose a service.</p>;
  return (
    <section aria-label="Tunnels">
      {error && <p role="alert">{error}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Tunnel</th>
            <th scope="col">Status</th>
            <th scope="col">Reason</th>
            <th scope="col">Endpoint</th>
            <th scope="col">Ports</th>
            <th scope="col">Connections</th>
            <th scope="col">In / out</th>
            <th scope="col">Reconnects</th>
            <th scope="col">Last error</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tunnels.map((tunnel) => {
            const id = `${tunnel.kind}/${tunnel.namespace}/${tunnel.name}`;
            const isFocus = props.focus?.namespace === tunnel.namespace && props.focus.name === tunnel.name;
            return (
              <tr
                key={id}
                aria-label={`${tunnel.kind} ${tunnel.namespace}/${tunnel.name}`}
                className={isFocus ? 'focus' : undefined}
                ref={isFocus ? focused : undefined}
                tabIndex={isFocus ? -1 : undefined}
              >
                <td>{tunnel.kind}</td>
                <th scope="row">
                  {tunnel.namespace}/{tunnel.name}
                </th>
                <td>
                  <StatusBadge status={tunnel.status} />
                </td>
                <td>{tunnel.reason}</td>
                <td>{tunnel.endpoint ?? '–'}</td>
                <td>{formatPorts(tunnel)}</td>
                <td>
                  {tunnel.counters.connections} ({tunnel.counters.activeConnections} open)
                </td>
                <td>
                  {formatBytes(tunnel.counters.bytesIn)} / {formatBytes(tunnel.counters.bytesOut)}
                </td>
                <td>{tunnel.counters.reconnects}</td>
                <td>{tunnel.lastError ?? ''}</td>
                <td>
                  {tunnel.kind === 'expose' && (
                    <button
                      type="button"
                      disabled={stopping === id || tunnel.status === 'stopping'}
                      onClick={() => {
                        setStopping(id);
                        void window.localizer
                          .stopExpose({ namespace: tunnel.namespace, name: tunnel.name })
                          .then((result) => {
                            setStopping(null);
                            setError(result.ok ? null : result.message);
                          });
                      }}
                    >
                      Stop exposing
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
