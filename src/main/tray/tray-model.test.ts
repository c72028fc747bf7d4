/** The tray's icon, tooltip and menu, drawn from the app state. */
import { describe, expect, it } from 'vitest';
import { disconnected, type AppState } from '../../shared/app-state';
import { takeoverLimits, type TunnelStatus } from '../../shared/tunnel-status';
import { trayModel, type TrayMenuItem } from './tray-model';

function tunnel(
  name: string,
  status: TunnelStatus['status'],
  kind: TunnelStatus['kind'] = 'forward',
): TunnelStatus {
  return {
    context: 'dev',
    kind,
    namespace: 'web',
    name,
    status,
    reason: status === 'failed' ? 'host key mismatch' : '',
    endpoint: null,
    ip: null,
    hostnames: [],
    ports: [],
    counters: { connections: 0, activeConnections: 0, bytesIn: 0, bytesOut: 0, reconnects: 0 },
    lastError: null,
    lastChange: '2026-11-25T00:00:00Z',
  };
}

const base: AppState = {
  contexts: [
    { name: 'dev', server: 'https://dev', namespace: 'default' },
    { name: 'prod', server: 'https://prod', namespace: 'default' },
  ],
  selectedContext: 'dev',
  kubeconfigProblem: null,
  connection: disconnected,
  tunnels: [],
  exposing: null,
  cleanup: null,
  exposeEnded: null,
  projects: [],
};

const connected: AppState = {
  ...base,
  connection: { ...disconnected, state: 'connected', context: 'dev', ready: 2, total: 2, namesEnabled: true },
  tunnels: [tunnel('api', 'running'), tunnel('frontend', 'running')],
};

function labels(items: TrayMenuItem[]): string[] {
  return items.flatMap((item) => ('label' in item ? [item.label] : []));
}

describe('the tray', () => {
  it('offers to connect the selected context while disconnected, and lists the contexts as radio items', () => {
    const model = trayModel(base);
    expect(model.icon).toBe('disconnected');
    expect(model.tooltip).toBe('Localizer: Disconnected');
    expect(labels(model.menu)).toEqual(
      expect.arrayContaining(['Connect to dev', 'dev', 'prod', 'Open Localizer', 'Quit Localizer']),
    );
    const radios = model.menu.filter((item) => item.type === 'radio');
    expect(radios.map((r) => [r.label, r.checked, r.enabled])).toEqual([
      ['dev', true, true],
      ['prod', false, true],
    ]);
  });

  it('shows progress and offers to disconnect once connected, and locks the other contexts', () => {
    const model = trayModel(connected);
    expect(model.icon).toBe('connected');
    expect(model.tooltip).toBe('Localizer: Connected to dev: 2 of 2 services ready');
    expect(labels(model.menu)).toContain('Disconnect');
    const prod = model.menu.find((item) => item.type === 'radio' && item.label === 'prod');
    expect(prod).toMatchObject({ enabled: false });
  });

  it('turns degraded when a tunnel fails, and lists exposes with their state and a stop item', () => {
    const model = trayModel({
      ...connected,
      tunnels: [...connected.tunnels, tunnel('billing', 'failed', 'expose')],
    });
    expect(model.icon).toBe('degraded');
    const expose = model.menu.find((item) => item.type === 'submenu');
    expect(expose).toMatchObject({ label: 'web/billing: failed (host key mismatch)' });
    expect(expose?.type === 'submenu' ? labels(expose.items) : []).toEqual(['Show', 'Stop exposing']);
  });

  it("says each expose's mode while it runs, and its problem when it has one", () => {
    const model = trayModel({
      ...connected,
      tunnels: [
        ...connected.tunnels,
        { ...tunnel('api', 'running', 'expose'), mode: 'takeover', reason: takeoverLimits },
        { ...tunnel('kv', 'running', 'expose'), mode: 'scale-down' },
        {
          ...tunnel('orders', 'running', 'expose'),
          mode: 'takeover',
          reason: 'nothing is listening on 127.0.0.1:3000',
        },
      ],
    });
    const submenus = model.menu.filter((item) => item.type === 'submenu').map((item) => item.label);
    expect(submenus).toEqual([
      'web/api: running, taken over',
      'web/kv: running, workloads scaled down',
      'web/orders: running (nothing is listening on 127.0.0.1:3000)',
    ]);
  });

  it('says why there are no contexts when the kubeconfig is unusable, and cannot connect', () => {
    const model = trayModel({
      ...base,
      contexts: [],
      selectedContext: null,
      kubeconfigProblem: 'No kubeconfig found at ~/.kube/config.',
    });
    expect(labels(model.menu)).toContain('No kubeconfig found at ~/.kube/config.');
    expect(model.menu.find((item) => item.type === 'action' && item.label === 'Connect')).toMatchObject({
      enabled: false,
    });
  });

  it('shows an error with its reason', () => {
    const model = trayModel({
      ...base,
      connection: { ...disconnected, state: 'error', reason: 'the token expired' },
    });
    expect(model.icon).toBe('error');
    expect(model.tooltip).toBe('Localizer: Error: the token expired');
  });

  it('lists the recent projects with their state, and offers to bring each up or down', () => {
    const model = trayModel({
      ...connected,
      projects: [
        { path: '/src/shop/localizer.yaml', name: 'shop', up: true },
        { path: '/src/blog/localizer.yaml', name: 'blog', up: false },
      ],
    });
    const projects = model.menu.slice(
      model.menu.findIndex((i) => 'label' in i && i.label === 'Projects') + 1,
    );
    expect(labels(projects).slice(0, 2)).toEqual(['shop: up', 'blog: down']);
    const [shop, blog] = projects as Extract<TrayMenuItem, { type: 'submenu' }>[];
    expect(shop?.items[1]).toMatchObject({
      label: 'Bring down',
      action: { kind: 'project-down', path: '/src/shop/localizer.yaml' },
    });
    expect(blog?.items[1]).toMatchObject({
      label: 'Bring up',
      action: { kind: 'project-up', path: '/src/blog/localizer.yaml' },
    });
    expect(labels(trayModel(connected).menu), 'no projects, no section').not.toContain('Projects');
  });
});
