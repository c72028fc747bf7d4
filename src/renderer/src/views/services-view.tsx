import { useMemo, useState, type KeyboardEvent, type MouseEvent } from 'react';
import type { AppState } from '../../../shared/app-state';
import { forwardStates, type TunnelStatus } from '../../../shared/tunnel-status';
import { Ports } from '../format';
import { StatusBadge } from './status-badge';

interface MenuPosition {
  tunnel: TunnelStatus;
  x: number;
  y: number;
}

/** One hostname: a click copies it. */
function Hostname({ name }: { name: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="hostname"
      aria-label={`Copy ${name}`}
      onClick={() => {
        void navigator.clipboard.writeText(name).then(
          () => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1200);
          },
          () => undefined,
        );
      }}
    >
      {copied ? 'Copied' : name}
    </button>
  );
}

/** Room the context menu needs (three items), to keep it on screen. */
const menuSize = { width: 300, height: 130 };

interface Notice {
  text: string;
  error: boolean;
}

/** Fetches the service's workload environment and puts it on the clipboard as `.env` text. */
async function copyEnvironment(tunnel: TunnelStatus): Promise<Notice> {
  const result = await window.localizer.getEnvironment({ namespace: tunnel.namespace, name: tunnel.name });
  if (!result.ok) return { text: result.message, error: true };
  try {
    await navigator.clipboard.writeText(result.value.dotenv);
  } catch {
    return {
      text: 'The clipboard refused the text; use `localizer env` in a terminal instead.',
      error: true,
    };
  }
  const { variables, rewritten, missing } = result.value;
  const details = [
    rewritten > 0 ? `${String(rewritten)} rewritten for this machine` : '',
    missing > 0 ? `${String(missing)} missing (see the comments)` : '',
  ].filter(Boolean);
  return {
    text: `Copied ${String(variables)} variables of ${tunnel.namespace}/${tunnel.name} as .env${details.length ? `: ${details.join(', ')}` : ''}.`,
    error: false,
  };
}

/** Every service of the connected context, grouped by namespace, with search and a status filter. */
export function ServicesView(props: { state: AppState; onExpose: (tunnel: TunnelStatus) => void }) {
  const [query, setQuery] = useState('');
  const [statusFilter, setStatusFilter] = useState<string>('all');
  const [menu, setMenu] = useState<MenuPosition | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const exposed = new Set(
    props.state.tunnels.filter((t) => t.kind === 'expose').map((t) => `${t.namespace}/${t.name}`),
  );
  const groups = useMemo(() => {
    const needle = query.trim().toLowerCase();
    const matches = props.state.tunnels.filter(
      (t) =>
        t.kind === 'forward' &&
        (statusFilter === 'all' || t.status === statusFilter) &&
        (!needle ||
          `${t.namespace}/${t.name}`.includes(needle) ||
          t.hostnames.some((h) => h.includes(needle)) ||
          (t.ip ?? '').includes(needle)),
    );
    const byNamespace = new Map<string, TunnelStatus[]>();
    for (const tunnel of matches)
      byNamespace.set(tunnel.namespace, [...(byNamespace.get(tunnel.namespace) ?? []), tunnel]);
    return [...byNamespace.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [props.state.tunnels, query, statusFilter]);

  // Kept inside the window: a menu opened near an edge opens towards the middle instead.
  const openMenu = (tunnel: TunnelStatus, x: number, y: number): void =>
    setMenu({
      tunnel,
      x: Math.max(0, Math.min(x, window.innerWidth - menuSize.width)),
      y: Math.max(0, Math.min(y, window.innerHeight - menuSize.height)),
    });
  const onContextMenu = (event: MouseEvent, tunnel: TunnelStatus): void => {
    event.preventDefault();
    openMenu(tunnel, event.clientX, event.clientY);
  };
  const onRowKey = (event: KeyboardEvent<HTMLTableRowElement>, tunnel: TunnelStatus): void => {
    if (event.key === 'ContextMenu' || (event.key === 'F10' && event.shiftKey)) {
      event.preventDefault();
      const box = event.currentTarget.getBoundingClientRect();
      openMenu(tunnel, box.left + 24, box.bottom);
    }
  };

  if (props.state.connection.state === 'disconnected') {
    return <p className="empty">Connect to a context to see its services.</p>;
  }
  return (
    <section aria-label="Services" onClick={() => setMenu(null)}>
      {notice && (
        <p role={notice.error ? 'alert' : 'status'} className={notice.error ? 'error' : 'notice'}>
          {notice.text}
        </p>
      )}
      <div className="toolbar">
        <input
          type="search"
          aria-label="Search services"
          placeholder="Search by name, namespace, hostname or IP"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
        <select
          aria-label="Filter by status"
          value={statusFilter}
          onChange={(event) => setStatusFilter(event.target.value)}
        >
          <option value="all">All statuses</option>
          {forwardStates.map((state) => (
            <option key={state} value={state}>
              {state}
            </option>
          ))}
        </select>
      </div>
      {groups.length === 0 && <p className="empty">No service matches.</p>}
      {groups.map(([namespace, tunnels]) => (
        <section key={namespace} aria-label={`Namespace ${namespace}`}>
          <h2>{namespace}</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Hostnames</th>
                <th scope="col">IP</th>
                <th scope="col">Ports</th>
                <th scope="col">Status</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {tunnels.map((tunnel) => (
                <tr
                  key={`${tunnel.namespace}/${tunnel.name}`}
                  aria-label={`${tunnel.namespace}/${tunnel.name}`}
                  tabIndex={0}
                  onContextMenu={(event) => onContextMenu(event, tunnel)}
                  onKeyDown={(event) => onRowKey(event, tunnel)}
                >
                  <th scope="row">
                    {tunnel.name}
                    {exposed.has(`${tunnel.namespace}/${tunnel.name}`) && (
                      <span className="tag">exposed</span>
                    )}
                  </th>
                  <td>
                    {tunnel.hostnames.slice(0, 3).map((name) => (
                      <Hostname key={name} name={name} />
                    ))}
                  </td>
                  <td>{tunnel.ip ?? '–'}</td>
                  <td>
                    <Ports tunnel={tunnel} />
                  </td>
                  <td>
                    <StatusBadge status={tunnel.status} />
                  </td>
                  <td>{tunnel.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      {menu && (
        <div
          role="menu"
          aria-label={`Actions for ${menu.tunnel.namespace}/${menu.tunnel.name}`}
          className="context-menu"
          style={{ left: menu.x, top: menu.y }}
        >
          <button
            type="button"
            role="menuitem"
            autoFocus
            onClick={() => {
              setMenu(null);
              props.onExpose(menu.tunnel);
            }}
            onKeyDown={(event) => {
              if (event.key === 'Escape') setMenu(null);
            }}
          >
            Expose to a local port…
          </button>
          <button
            type="button"
            role="menuitem"
            onClick={() => {
              const { tunnel } = menu;
              setMenu(null);
              void copyEnvironment(tunnel).then(setNotice);
            }}
          >
            Copy environment as .env
          </button>
          <button
            type="button"
            role="menuitem"
            onClick={() => {
              const target = { namespace: menu.tunnel.namespace, name: menu.tunnel.name };
              setMenu(null);
              void window.localizer.openTerminal(target).then((result) => {
                setNotice(
                  result.ok
                    ? {
                        text: `Opened a terminal with the environment of ${target.namespace}/${target.name}.`,
                        error: false,
                      }
                    : { text: result.message, error: true },
                );
              });
            }}
          >
            Open a terminal with this environment
          </button>
        </div>
      )}
    </section>
  );
}
