import type { AppState } from '../../../shared/app-state';

function connectionText(state: AppState): string {
  const { connection } = state;
  switch (connection.state) {
    case 'disconnected':
      return 'Disconnected';
    case 'connecting':
      return connection.total > 0
        ? `Connecting: ${String(connection.ready)} of ${String(connection.total)} services ready`
        : 'Connecting…';
    case 'connected':
      return `Connected: ${String(connection.ready)} of ${String(connection.total)} services ready`;
    case 'degraded':
      return `Degraded: ${connection.reason}`;
    case 'error':
      return `Error: ${connection.reason}`;
  }
}

/** Contexts, the connection's state, and the connect button. */
export function Sidebar(props: {
  state: AppState;
  busy: boolean;
  onSelect: (context: string) => void;
  onToggle: () => void;
}) {
  const { state } = props;
  const connected = state.connection.state !== 'disconnected' && state.connection.state !== 'error';
  return (
    <aside className="sidebar">
      <h1>Localizer</h1>
      <nav aria-label="Contexts">
        <h2>Contexts</h2>
        {state.kubeconfigProblem && <p role="alert">{state.kubeconfigProblem}</p>}
        <ul>
          {state.contexts.map((context) => (
            <li key={context.name}>
              <button
                type="button"
                className="context"
                aria-pressed={context.name === state.selectedContext}
                disabled={connected && context.name !== state.selectedContext}
                title={connected ? 'Disconnect to switch contexts' : context.server}
                onClick={() => props.onSelect(context.name)}
              >
                <span>{context.name}</span>
                <small>{context.server}</small>
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <p role="status" className={`connection connection-${state.connection.state}`}>
        {connectionText(state)}
      </p>
      {state.connection.state !== 'disconnected' && !state.connection.namesEnabled && connected && (
        <p className="hint">Names in /etc/hosts are off: reach services by their IP.</p>
      )}
      <button
        type="button"
        className="primary"
        disabled={props.busy || (!connected && !state.selectedContext)}
        onClick={props.onToggle}
      >
        {connected ? 'Disconnect' : 'Connect'}
      </button>
    </aside>
  );
}
