import { useEffect, useRef, useState } from 'react';
import type { TunnelTarget } from '../../../shared/api';
import type { AppState } from '../../../shared/app-state';
import { transportLabels } from '../../../shared/tunnel-status';
import { formatBytes, Ports } from '../format';
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
  // A target names a service; where it is exposed, its expose is the row to show.
  const isFocus = (tunnel: (typeof tunnels)[number]): boolean =>
    props.focus?.namespace === tunnel.namespace &&
    props.focus.name === tunnel.name &&
    (tunnel.kind === 'expose' ||
      !tunnels.some(
        (t) => t.kind === 'expose' && t.namespace === tunnel.namespace && t.name === tunnel.name,
      ));
  return (
    <section aria-label="Tunnels">
      {error && <p role="alert">{error}</p>}
      <div className="table-scroll">
        <table className="tunnels">
          <thead>
            <tr>
              <th scope="col">Tunnel</th>
              <th scope="col">Status</th>
              <th scope="col">Endpoint</th>
              <th scope="col">Ports</th>
              <th scope="col">Traffic</th>
              <th scope="col">Reconnects</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {tunnels.map((tunnel) => {
              const id = `${tunnel.kind}/${tunnel.namespace}/${tunnel.name}`;
              const focus = isFocus(tunnel);
              return (
                <tr
                  key={id}
                  aria-label={`${tunnel.kind} ${tunnel.namespace}/${tunnel.name}`}
                  className={focus ? 'focus' : undefined}
                  ref={focus ? focused : undefined}
                  tabIndex={focus ? -1 : undefined}
                >
                  <th scope="row">
                    <span className="nowrap">
                      {tunnel.namespace}/{tunnel.name}
                    </span>
                    <span className="kind">
                      {tunnel.kind}
                      {tunnel.route ? ` · ${tunnel.route.header}=${tunnel.route.value}` : ''}
                    </span>
                    {tunnel.kind === 'expose' && (
                      <button
                        type="button"
                        className="nowrap"
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
                  </th>
                  <td>
                    <StatusBadge status={tunnel.status} />
                    {tunnel.reason && <div className="reason">{tunnel.reason}</div>}
                  </td>
                  <td className="endpoint">
                    {tunnel.endpoint ?? '–'}
                    {tunnel.transport && <div className="kind">via {transportLabels[tunnel.transport]}</div>}
                  </td>
                  <td>
                    <Ports tunnel={tunnel} />
                  </td>
                  <td>
                    {tunnel.status === 'skipped' ? (
                      '–'
                    ) : (
                      <>
                        <div className="nowrap">
                          {tunnel.counters.connections} connections ({tunnel.counters.activeConnections} open)
                        </div>
                        <div className="nowrap">
                          {formatBytes(tunnel.counters.bytesIn)} in / {formatBytes(tunnel.counters.bytesOut)}{' '}
                          out
                        </div>
                      </>
                    )}
                  </td>
                  <td>
                    {tunnel.counters.reconnects}
                    {(tunnel.counters.stalls ?? 0) > 0 && (
                      <div className="reason">
                        {tunnel.counters.stalls} stalled session{tunnel.counters.stalls === 1 ? '' : 's'}{' '}
                        replaced
                      </div>
                    )}
                  </td>
                  <td className="reason">{tunnel.lastError ?? ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
