/**
 * The router's configuration as data: which ports are read as HTTP, what a route's join and
 * leave send to the runtime API, and which sections the configuration has for each kind of port.
 * HAProxy itself checks the rendered file in `router-config-haproxy.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import {
  mapCommands,
  portKind,
  renderRouterConfig,
  renderRoutesMap,
  serverCommands,
  type RouterPort,
} from './router-config';
import { routerSlots, withoutRoute, withRoute, type RouterState } from './router-state';

describe('portKind', () => {
  it.each([
    [{ name: 'http' }, 'http'],
    [{ name: 'http-web' }, 'http'],
    [{ name: 'grpc' }, 'http'],
    [{ name: 'h2c' }, 'http'],
    [{ name: 'web', appProtocol: 'kubernetes.io/h2c' }, 'http'],
    [{ name: 'api', appProtocol: 'HTTP' }, 'http'],
    [{ name: 'https' }, 'tcp'],
    [{ name: 'redis' }, 'tcp'],
    [{ name: 'postgres-main' }, 'tcp'],
    [{ name: 'http', appProtocol: 'tls' }, 'tcp'],
    [{ name: 'api' }, 'sniff'],
    [{}, 'sniff'],
    [{ name: 'httpx' }, 'sniff'],
  ] as const)('%o is read as %s', (port, kind) => {
    expect(portKind(port)).toBe(kind);
  });
});

const ports: RouterPort[] = [
  { servicePort: 80, listenPort: 8080, name: 'http', kind: 'http' },
  { servicePort: 6379, listenPort: 6379, kind: 'tcp' },
  { servicePort: 9000, listenPort: 9000, kind: 'sniff' },
];
const alice = { slot: 0, value: 'alice', address: '10.0.0.7', ports: { '80': 8080 } };

describe('renderRouterConfig', () => {
  const config = renderRouterConfig({
    header: 'X-Dev',
    ports,
    originAddress: '10.96.0.20',
    slots: 2,
    routes: [alice],
  });
  const section = (name: string): string => {
    const start = config.indexOf(`${name}\n`);
    expect(start, `the configuration has ${name}`).toBeGreaterThanOrEqual(0);
    const end = config.indexOf('\n', config.indexOf('\n', start) + 1);
    const next = config.slice(end).search(/\n(frontend|backend) /);
    return config.slice(start, next < 0 ? undefined : end + next);
  };

  it('reads an HTTP port as HTTP and routes on the header, lower case, falling back to the origin', () => {
    const http = section('frontend p80');
    expect(http).toContain('mode http');
    expect(http).toContain('bind "${POD_IP}:8080"');
    expect(http).toContain('req.hdr(x-dev),map(routes.map)');
    expect(http).toContain('default_backend o_p80_h1');
  });

  it('passes a port that speaks something else straight to the origin', () => {
    expect(section('frontend p6379')).toMatch(/mode tcp\n\s+default_backend o_p6379_tcp$/);
    expect(config).not.toContain('backend s0_p6379');
  });

  it('looks at the first bytes of a port of unknown protocol, for HTTP/1.1 and the h2 preface', () => {
    const sniffed = section('frontend p9000');
    expect(sniffed).toContain('mode tcp');
    expect(sniffed).toContain(
      'switch-mode http proto h2 if { req.payload(0,14) -m bin 505249202a20485454502f322e30 }',
    );
    expect(sniffed).toContain('switch-mode http if HTTP');
    expect(sniffed).toContain('default_backend o_p9000_tcp');
  });

  it("points a held slot at the developer's tunnel, with the origin as its backup", () => {
    expect(section('backend s0_p80_h1')).toMatch(
      /server laptop 10\.0\.0\.7:8080 check .*\n\s+server origin 10\.96\.0\.20:80 backup/,
    );
    expect(section('backend s0_p80_h2')).toMatch(/server laptop 10\.0\.0\.7:8080 proto h2 check/);
  });

  it('keeps a free slot, and a port the developer did not map, in maintenance', () => {
    expect(section('backend s1_p80_h1')).toMatch(/server laptop 127\.0\.0\.1:1 disabled check/);
    expect(section('backend s0_p9000_h1')).toMatch(/server laptop 127\.0\.0\.1:1 disabled check/);
  });

  it('retries only requests that are safe to send twice', () => {
    expect(config).toContain('retry-on conn-failure empty-response');
    expect(section('backend s0_p80_h1')).toContain('disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS');
  });

  it('maps each value to its slot', () => {
    expect(renderRoutesMap([alice, { ...alice, slot: 3, value: 'bob' }])).toBe('alice s0\nbob s3\n');
  });
});

describe('the runtime API commands', () => {
  it("point each held slot at its developer's tunnel, for the ports they mapped, and rest the others", () => {
    expect(serverCommands([alice], ports, 2)).toEqual([
      'set server s0_p80_h1/laptop addr 10.0.0.7 port 8080',
      'set server s0_p80_h1/laptop state ready',
      'set server s0_p80_h2/laptop addr 10.0.0.7 port 8080',
      'set server s0_p80_h2/laptop state ready',
      // Alice did not map 9000: her requests there go to the origin, the slot's backup.
      'set server s0_p9000_h1/laptop state maint',
      'set server s0_p9000_h2/laptop state maint',
      'set server s1_p80_h1/laptop state maint',
      'set server s1_p80_h2/laptop state maint',
      'set server s1_p9000_h1/laptop state maint',
      'set server s1_p9000_h2/laptop state maint',
    ]);
  });

  it('replace the routes map as one version', () => {
    expect(mapCommands([alice, { ...alice, slot: 1, value: 'bob' }], 7)).toEqual([
      'add map @7 routes.map alice s0',
      'add map @7 routes.map bob s1',
      'commit map @7 routes.map',
    ]);
    expect(mapCommands([], 8), 'no route: an empty map').toEqual(['commit map @8 routes.map']);
  });
});

describe('the shared routes', () => {
  const state: RouterState = {
    header: 'x-dev',
    session: 'router-1',
    pod: 'localizer-router-api-1',
    phase: 'ready',
    createdBy: 'alice@laptop',
    originalSelector: { app: 'api' },
    originAddress: '10.96.0.20',
    ports,
    routes: [],
  };
  const route = (value: string, session: string) => ({
    value,
    session,
    owner: `${value}@laptop`,
    pod: `pod-${value}`,
    address: '10.0.0.1',
    ports: {},
  });

  it('gives each developer the lowest free slot, and the same slot when they join again', () => {
    const withAlice = withRoute(state, route('alice', 'a'), 'x-dev', 'web/api');
    const withBob = withRoute(withAlice, route('bob', 'b'), 'X-Dev', 'web/api');
    expect(withBob.routes.map((r) => [r.value, r.slot])).toEqual([
      ['alice', 0],
      ['bob', 1],
    ]);
    const aliceMoved = withRoute(
      withBob,
      { ...route('alice', 'a'), address: '10.0.0.9' },
      'x-dev',
      'web/api',
    );
    expect(aliceMoved.routes.find((r) => r.value === 'alice')).toMatchObject({
      slot: 0,
      address: '10.0.0.9',
    });
    expect(withoutRoute(withBob, 'a').routes.map((r) => r.slot)).toEqual([1]);
  });

  it('refuses a value someone holds, naming them; another header; a full router', () => {
    const withAlice = withRoute(state, route('alice', 'a'), 'x-dev', 'web/api');
    expect(() => withRoute(withAlice, route('alice', 'other'), 'x-dev', 'web/api')).toThrow(
      /x-dev=alice on web\/api is already held by alice@laptop \(pod pod-alice\)/,
    );
    expect(() => withRoute(withAlice, route('bob', 'b'), 'x-user', 'web/api')).toThrow(
      /already routed by header x-dev .*alice@laptop \(x-dev=alice\).*--header x-dev=VALUE/,
    );
    let full = state;
    for (let slot = 0; slot < routerSlots; slot++)
      full = withRoute(full, route(`dev${String(slot)}`, `s${String(slot)}`), 'x-dev', 'web/api');
    expect(() => withRoute(full, route('late', 'late'), 'x-dev', 'web/api')).toThrow(
      new RegExp(`already has ${String(routerSlots)} personal intercepts`),
    );
  });

  it('closes the router when its last route leaves', () => {
    const withAlice = withRoute(state, route('alice', 'a'), 'x-dev', 'web/api');
    expect(withoutRoute(withAlice, 'a')).toMatchObject({ routes: [], phase: 'closing' });
  });
});
