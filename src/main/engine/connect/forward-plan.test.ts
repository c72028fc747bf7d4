import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { planForwards, type PlanOptions } from './forward-plan';

const options: PlanOptions = {
  clusterDomain: 'cluster.local',
  bareNamespace: 'web',
  includeNamespace: () => true,
  relays: true,
};

function service(namespace: string, name: string, spec: k8s.V1ServiceSpec): k8s.V1Service {
  return { metadata: { namespace, name }, spec };
}

function slice(
  namespace: string,
  service: string,
  ports: k8s.DiscoveryV1EndpointPort[],
  endpoints: { pod: string; ready: boolean; hostname?: string; uid?: string }[],
  sliceName = `${service}-abcde`,
): k8s.V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { namespace, name: sliceName, labels: { 'kubernetes.io/service-name': service } },
    ports,
    endpoints: endpoints.map((e) => ({
      addresses: ['10.0.0.1'],
      conditions: { ready: e.ready },
      ...(e.hostname ? { hostname: e.hostname } : {}),
      targetRef: { kind: 'Pod', name: e.pod, namespace, ...(e.uid ? { uid: e.uid } : {}) },
    })),
  };
}

describe('planForwards', () => {
  it('follows a StatefulSet pod replaced under the same name: the ready incarnation (by UID) wins', () => {
    const kv = service('data', 'kv', {
      clusterIP: 'None',
      selector: { app: 'kv' },
      ports: [{ name: 'kv', port: 6379, targetPort: 'kv' }],
    });
    const ports = [{ name: 'kv', port: 6379 }];
    const endpointOf = (slices: k8s.V1EndpointSlice[]) =>
      planForwards([kv], slices, options).find((p) => p.key === 'pod/data/kv/kv-0')?.endpoints;
    const old = { pod: 'kv-0', hostname: 'kv-0', uid: 'old' };
    const replacement = { pod: 'kv-0', hostname: 'kv-0', uid: 'new' };
    // Two slices can name both incarnations for a moment, in either order.
    for (const order of [
      ['a', 'b'],
      ['b', 'a'],
    ] as const) {
      const slices = [
        slice('data', 'kv', ports, [{ ...old, ready: false }], `kv-${order[0]}`),
        slice('data', 'kv', ports, [{ ...replacement, ready: true }], `kv-${order[1]}`),
      ];
      expect(endpointOf(order[0] === 'a' ? slices : [...slices].reverse())).toEqual([
        { pod: 'kv-0', uid: 'new', ready: true, ports: { kv: 6379 } },
      ]);
    }
    expect(
      endpointOf([
        slice('data', 'kv', ports, [{ ...old, ready: true }], 'kv-a'),
        slice('data', 'kv', ports, [{ ...replacement, ready: false }], 'kv-b'),
      ]),
    ).toEqual([{ pod: 'kv-0', uid: 'old', ready: true, ports: { kv: 6379 } }]);
  });

  it('names a service in every in-cluster form, with the bare name only in the context’s namespace', () => {
    const plans = planForwards(
      [
        service('web', 'api', { selector: { app: 'api' }, ports: [{ port: 80 }] }),
        service('data', 'api', { selector: { app: 'api' }, ports: [{ port: 80 }] }),
      ],
      [],
      options,
    );
    expect(plans.map((p) => p.names)).toEqual([
      ['api.data', 'api.data.svc', 'api.data.svc.cluster.local'],
      ['api', 'api.web', 'api.web.svc', 'api.web.svc.cluster.local'],
    ]);
  });

  it('gives each StatefulSet pod under a headless service its own plan and names, forwarding to that pod only', () => {
    const plans = planForwards(
      [
        service('data', 'kv', {
          clusterIP: 'None',
          selector: { app: 'kv' },
          ports: [{ name: 'kv', port: 6379, targetPort: 'kv' }],
        }),
      ],
      [
        slice(
          'data',
          'kv',
          [{ name: 'kv', port: 6379 }],
          [
            { pod: 'kv-0', ready: true, hostname: 'kv-0' },
            { pod: 'kv-1', ready: true, hostname: 'kv-1' },
          ],
        ),
      ],
      options,
    );
    expect(plans.map((p) => p.key)).toEqual(['pod/data/kv/kv-0', 'pod/data/kv/kv-1', 'svc/data/kv']);
    expect(plans[0]?.names).toEqual(['kv-0.kv.data', 'kv-0.kv.data.svc', 'kv-0.kv.data.svc.cluster.local']);
    expect(plans[0]?.endpoints.map((e) => e.pod)).toEqual(['kv-0']);
    expect(plans[2]?.endpoints.map((e) => e.pod)).toEqual(['kv-0', 'kv-1']);
  });

  const unreachable = [
    service('data', 'billing', {
      type: 'ExternalName',
      externalName: 'billing.example.com',
      ports: [{ name: 'https', port: 443 }],
    }),
    service('data', 'bare-name', { type: 'ExternalName', externalName: 'mail.example.com' }),
    service('tools', 'dns', {
      selector: { app: 'dns' },
      clusterIP: '10.0.0.10',
      ports: [{ port: 53, protocol: 'UDP' }],
    }),
    service('data', 'legacy', { ports: [{ name: 'pg', port: 5432 }] }),
    service('data', 'empty', { ports: [{ name: 'pg', port: 5432 }] }),
  ];
  const legacySlice: k8s.V1EndpointSlice = {
    metadata: { namespace: 'data', name: 'legacy-1', labels: { 'kubernetes.io/service-name': 'legacy' } },
    addressType: 'IPv4',
    ports: [{ name: 'pg', port: 15432 }],
    endpoints: [{ addresses: ['192.0.2.7'] }, { addresses: ['192.0.2.8'], conditions: { ready: true } }],
  };

  it('sends ExternalName, UDP-only and selector-less services through the relay', () => {
    const plans = planForwards(unreachable, [legacySlice], options);
    const byName = Object.fromEntries(plans.map((p) => [p.name, p]));
    expect(byName.billing?.relayRoutes).toEqual([
      {
        protocol: 'tcp',
        port: 443,
        name: 'https',
        destinations: [{ host: 'billing.example.com', port: 443 }],
      },
    ]);
    expect(byName.dns?.relayRoutes).toEqual([
      { protocol: 'udp', port: 53, name: '', destinations: [{ host: '10.0.0.10', port: 53 }] },
    ]);
    // The endpoints' own port, to every address they name.
    expect(byName.legacy?.relayRoutes[0]?.destinations).toEqual([
      { host: '192.0.2.7', port: 15432 },
      { host: '192.0.2.8', port: 15432 },
    ]);
    for (const name of ['billing', 'dns', 'legacy']) expect(byName[name]?.skipReason).toBeUndefined();
    expect(byName['bare-name']?.skipReason).toMatch(/no TCP or UDP ports.*add them to spec.ports/);
    expect(byName.empty?.skipReason).toBe('no selector and no endpoints, so there is nothing to forward to');
  });

  it('skips them, saying why, with relays off', () => {
    const plans = planForwards(unreachable, [legacySlice], { ...options, relays: false });
    const reasons = Object.fromEntries(plans.map((p) => [p.name, p.skipReason]));
    expect(reasons.billing).toBe(
      'ExternalName service: it names billing.example.com outside the cluster, which port-forward cannot reach, and relays are off (--no-relays)',
    );
    expect(reasons.dns).toMatch(/UDP only.*relays are off/);
    expect(reasons.legacy).toMatch(/endpoints are addresses, not pods.*relays are off/);
    expect(plans.every((p) => p.relayRoutes.length === 0)).toBe(true);
  });

  const statsd = service('tools', 'statsd', {
    selector: { app: 'statsd' },
    clusterIP: '10.0.0.20',
    ports: [
      { name: 'metrics', port: 8125, protocol: 'UDP' },
      { name: 'admin', port: 8126 },
      { name: 'trace', port: 9000, protocol: 'SCTP' },
    ],
  });

  it('forwards the TCP ports of a mixed service to pods and relays the UDP one to its cluster IP', () => {
    const [plan] = planForwards([statsd], [], options);
    expect(plan?.tcpPorts).toEqual([{ port: 8126, name: 'admin' }]);
    expect(plan?.relayRoutes).toEqual([
      { protocol: 'udp', port: 8125, name: 'metrics', destinations: [{ host: '10.0.0.20', port: 8125 }] },
    ]);
    expect(plan?.note).toBe('SCTP port 9000 skipped: only TCP and UDP are carried');
  });

  it('notes the UDP port of a mixed service as skipped with relays off', () => {
    const [plan] = planForwards([statsd], [], { ...options, relays: false });
    expect(plan?.relayRoutes).toEqual([]);
    expect(plan?.note).toBe(
      'UDP port 8125 skipped: relays are off (--no-relays); SCTP port 9000 skipped: only TCP and UDP are carried',
    );
  });

  it('leaves out excluded namespaces', () => {
    const plans = planForwards(
      [service('kube-system', 'dns', { selector: { a: 'b' }, ports: [{ port: 53 }] })],
      [],
      { ...options, includeNamespace: (ns) => ns !== 'kube-system' },
    );
    expect(plans).toEqual([]);
  });
});
