import { useEffect, useState, type KeyboardEvent } from 'react';
import type { TunnelTarget } from '../../shared/api';
import type { AppState } from '../../shared/app-state';
import type { TunnelStatus } from '../../shared/tunnel-status';
import { CleanupBanner } from './views/cleanup-banner';
import { ExposeDialog } from './views/expose-dialog';
import { ExposeEndedBanner } from './views/expose-ended-banner';
import { ProjectsView } from './views/projects-view';
import { ServicesView } from './views/services-view';
import { SettingsView } from './views/settings-view';
import { Sidebar } from './views/sidebar';
import { TunnelsView } from './views/tunnels-view';

type View = 'services' | 'tunnels' | 'projects' | 'settings';
const views: { id: View; label: string }[] = [
  { id: 'services', label: 'Services' },
  { id: 'tunnels', label: 'Tunnels' },
  { id: 'projects', label: 'Projects' },
  { id: 'settings', label: 'Settings' },
];

/** The window: contexts on the left; services, tunnels and settings on the right. */
export function App() {
  const [state, setState] = useState<AppState | null>(null);
  const [view, setView] = useState<View>('services');
  const [focus, setFocus] = useState<TunnelTarget | null>(null);
  const [exposing, setExposing] = useState<TunnelStatus | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    void window.localizer.getState().then((result) => {
      if (result.ok) setState(result.value);
      else setError(result.message);
    });
    const unsubscribeState = window.localizer.onState(setState);
    const unsubscribeFocus = window.localizer.onFocusTunnel((target) => {
      setView('tunnels');
      setFocus(target);
    });
    return () => {
      unsubscribeState();
      unsubscribeFocus();
    };
  }, []);

  if (!state) return <main className="loading">{error ?? 'Starting Localizer…'}</main>;
  const connected = state.connection.state !== 'disconnected' && state.connection.state !== 'error';
  const run = (call: () => Promise<{ ok: boolean; message?: string }>): void => {
    setBusy(true);
    setError(null);
    void call().then((result) => {
      setBusy(false);
      if (!result.ok) setError(result.message ?? 'It did not work.');
    });
  };

  // The tabs pattern: one tab stop, arrows (and Home/End) move between the views.
  const onTabKey = (event: KeyboardEvent<HTMLDivElement>): void => {
    const index = views.findIndex((v) => v.id === view);
    const moves: Record<string, number> = {
      ArrowRight: (index + 1) % views.length,
      ArrowLeft: (index - 1 + views.length) % views.length,
      Home: 0,
      End: views.length - 1,
    };
    const next = views[moves[event.key] ?? -1];
    if (!next) return;
    event.preventDefault();
    setView(next.id);
    document.getElementById(`tab-${next.id}`)?.focus();
  };

  return (
    <div className="layout">
      <Sidebar
        state={state}
        busy={busy}
        onSelect={(name) => run(() => window.localizer.selectContext(name))}
        onToggle={() => run(() => (connected ? window.localizer.disconnect() : window.localizer.connect()))}
      />
      <main>
        <div role="tablist" aria-label="Views" className="tabs" onKeyDown={onTabKey}>
          {views.map((v) => (
            <button
              key={v.id}
              type="button"
              role="tab"
              id={`tab-${v.id}`}
              aria-selected={view === v.id}
              aria-controls={`panel-${v.id}`}
              tabIndex={view === v.id ? 0 : -1}
              onClick={() => setView(v.id)}
            >
              {v.label}
              {v.id === 'tunnels' && state.tunnels.length > 0 ? ` (${String(state.tunnels.length)})` : ''}
            </button>
          ))}
        </div>
        <CleanupBanner cleanup={state.cleanup} />
        <ExposeEndedBanner ended={state.exposeEnded} />
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div role="tabpanel" id={`panel-${view}`} aria-labelledby={`tab-${view}`}>
          {view === 'services' && <ServicesView state={state} onExpose={setExposing} />}
          {view === 'tunnels' && <TunnelsView state={state} focus={focus} />}
          {view === 'projects' && <ProjectsView state={state} />}
          {view === 'settings' && <SettingsView />}
        </div>
      </main>
      {exposing && (
        <ExposeDialog
          tunnel={exposing}
          state={state}
          onClose={() => setExposing(null)}
          onExposed={() => {
            setFocus({ namespace: exposing.namespace, name: exposing.name });
            setExposing(null);
            setView('tunnels');
          }}
        />
      )}
    </div>
  );
}
