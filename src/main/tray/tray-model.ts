/**
 * What the tray shows, as a pure function of the app state: the icon, the tooltip and the menu.
 * The Electron side (tray.ts) only applies it, so every rule here is unit-tested without Electron.
 */
import type { AppState, ConnectionState } from '../../shared/app-state';
import { takeoverLimits, type ExposeMode, type TunnelStatus } from '../../shared/tunnel-status';

export type TrayAction =
  | { kind: 'toggle-connection' }
  | { kind: 'select-context'; context: string }
  | { kind: 'stop-expose'; namespace: string; name: string }
  | { kind: 'show-tunnel'; namespace: string; name: string }
  | { kind: 'project-up'; path: string }
  | { kind: 'project-down'; path: string }
  | { kind: 'open-window' }
  | { kind: 'quit' };

export type TrayMenuItem =
  | { type: 'action'; label: string; action: TrayAction; enabled: boolean }
  | { type: 'radio'; label: string; action: TrayAction; checked: boolean; enabled: boolean }
  | { type: 'submenu'; label: string; items: TrayMenuItem[] }
  | { type: 'label'; label: string }
  | { type: 'separator' };

export interface TrayModel {
  icon: ConnectionState;
  tooltip: string;
  /** What a left-click does: toggle the selected context's connection. */
  click: TrayAction;
  menu: TrayMenuItem[];
}

function headline(state: AppState): string {
  const { connection } = state;
  switch (connection.state) {
    case 'disconnected':
      return 'Disconnected';
    case 'connecting':
      return connection.total > 0
        ? `Connecting to ${connection.context ?? ''}: ${String(connection.ready)} of ${String(connection.total)} services ready`
        : `Connecting to ${connection.context ?? ''}…`;
    case 'connected':
      return `Connected to ${connection.context ?? ''}: ${String(connection.ready)} of ${String(connection.total)} services ready`;
    case 'degraded':
      return `Degraded (${connection.context ?? ''}): ${connection.reason}`;
    case 'error':
      return `Error: ${connection.reason}`;
  }
}

const modeLabels: Record<ExposeMode, string> = {
  takeover: 'taken over',
  'scale-down': 'workloads scaled down',
  personal: 'personal',
};

/**
 * `web/api: running, taken over`; a problem's reason instead where there is one (a running
 * takeover's reason only says what it does not move, which the window shows in full).
 */
function exposeLabel(expose: TunnelStatus): string {
  const name = `${expose.namespace}/${expose.name}: ${expose.status}`;
  const quiet = expose.reason === '' || expose.reason === takeoverLimits;
  if (expose.status === 'running' && expose.route)
    return `${name}, ${modeLabels.personal} (${expose.route.header}=${expose.route.value})`;
  if (expose.status === 'running' && expose.mode && quiet) return `${name}, ${modeLabels[expose.mode]}`;
  return expose.reason ? `${name} (${expose.reason})` : name;
}

export function trayModel(state: AppState): TrayModel {
  const connected = state.connection.state !== 'disconnected' && state.connection.state !== 'error';
  const busy = state.exposing !== null;
  const exposes = state.tunnels.filter((t) => t.kind === 'expose');
  const contextItems: TrayMenuItem[] =
    state.contexts.length > 0
      ? state.contexts.map((context) => ({
          type: 'radio',
          label: context.name,
          action: { kind: 'select-context', context: context.name },
          checked: context.name === state.selectedContext,
          // Switching context while connected would silently drop tunnels: disconnect first.
          enabled: !connected || context.name === state.selectedContext,
        }))
      : [{ type: 'label', label: state.kubeconfigProblem ?? 'No contexts in the kubeconfig' }];
  const exposeItems: TrayMenuItem[] = exposes.map((expose) => ({
    type: 'submenu',
    label: exposeLabel(expose),
    items: [
      {
        type: 'action',
        label: 'Show',
        action: { kind: 'show-tunnel', namespace: expose.namespace, name: expose.name },
        enabled: true,
      },
      {
        type: 'action',
        label: 'Stop exposing',
        action: { kind: 'stop-expose', namespace: expose.namespace, name: expose.name },
        enabled: expose.status !== 'stopping',
      },
    ],
  }));
  // The recent projects, each with its state and the one thing to do about it.
  const projectItems: TrayMenuItem[] = state.projects.map((project) => ({
    type: 'submenu',
    label: `${project.name}: ${project.up ? 'up' : 'down'}`,
    items: [
      { type: 'label', label: project.path },
      project.up
        ? {
            type: 'action',
            label: 'Bring down',
            action: { kind: 'project-down', path: project.path },
            enabled: true,
          }
        : {
            type: 'action',
            label: 'Bring up',
            action: { kind: 'project-up', path: project.path },
            enabled: !busy,
          },
    ],
  }));
  const menu: TrayMenuItem[] = [
    { type: 'label', label: headline(state) },
    { type: 'separator' },
    {
      type: 'action',
      label: connected
        ? 'Disconnect'
        : `Connect${state.selectedContext ? ` to ${state.selectedContext}` : ''}`,
      action: { kind: 'toggle-connection' },
      enabled: connected || (state.selectedContext !== null && !busy),
    },
    { type: 'separator' },
    { type: 'label', label: 'Contexts' },
    ...contextItems,
    ...(exposeItems.length > 0
      ? [
          { type: 'separator' } as const,
          { type: 'label', label: 'Exposed services' } as const,
          ...exposeItems,
        ]
      : []),
    ...(projectItems.length > 0
      ? [{ type: 'separator' } as const, { type: 'label', label: 'Projects' } as const, ...projectItems]
      : []),
    { type: 'separator' },
    { type: 'action', label: 'Open Localizer', action: { kind: 'open-window' }, enabled: true },
    { type: 'action', label: 'Quit Localizer', action: { kind: 'quit' }, enabled: true },
  ];
  const troubled = state.tunnels.filter((t) => t.status === 'failed' || t.status === 'reconnecting').length;
  const icon: ConnectionState =
    state.connection.state === 'connected' && troubled > 0 ? 'degraded' : state.connection.state;
  return { icon, tooltip: `Localizer: ${headline(state)}`, click: { kind: 'toggle-connection' }, menu };
}
