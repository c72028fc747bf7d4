/**
 * The clusters a test or a demo can start with. `demo` shows every kind of Service Localizer has to
 * handle; `scale` is many services over few pods, for benchmarks.
 */
import type { KubeObject } from '../api/objects';
import { deployment, externalNameService, images, namespace, service, statefulSet } from './builders';

/** Objects to create, each with the namespace it goes in (none for namespaces). */
export type Scenario = { namespace?: string; object: KubeObject }[];

export interface ScenarioOptions {
  /** scale: how many namespaces. */
  namespaces?: number;
  /** scale: how many services in each namespace. */
  services?: number;
}

function demo(): Scenario {
  return [
    { object: namespace('web') },
    { object: namespace('data') },
    { object: namespace('tools') },
    // A Deployment-backed HTTP service with 2 replicas, on port 80, reaching a named targetPort.
    {
      namespace: 'web',
      object: deployment('frontend', {
        replicas: 2,
        image: images.http,
        ports: [{ name: 'http', containerPort: 8080 }],
      }),
    },
    {
      namespace: 'web',
      object: service('frontend', {
        selector: { app: 'frontend' },
        ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      }),
    },
    // Several ports, one of them a named targetPort.
    {
      namespace: 'web',
      object: deployment('api', {
        replicas: 2,
        image: images.http,
        ports: [
          { name: 'http', containerPort: 8080 },
          { name: 'metrics', containerPort: 9102 },
        ],
      }),
    },
    {
      namespace: 'web',
      object: service('api', {
        selector: { app: 'api' },
        ports: [
          { name: 'http', port: 8080, targetPort: 8080 },
          { name: 'metrics', port: 9090, targetPort: 'metrics' },
        ],
      }),
    },
    // A StatefulSet behind a headless service: kv-0.kv.data, kv-1.kv.data, kv-2.kv.data.
    {
      namespace: 'data',
      object: statefulSet('kv', {
        replicas: 3,
        image: images.http,
        ports: [{ name: 'kv', containerPort: 6379 }],
        serviceName: 'kv',
      }),
    },
    {
      namespace: 'data',
      object: service('kv', {
        selector: { app: 'kv' },
        headless: true,
        ports: [{ name: 'kv', port: 6379, targetPort: 'kv' }],
      }),
    },
    // Services Localizer must skip, each for its own reason.
    { namespace: 'data', object: externalNameService('billing', 'billing.example.com') },
    { namespace: 'data', object: service('legacy-db', { ports: [{ name: 'pg', port: 5432 }] }) },
    {
      namespace: 'tools',
      object: deployment('statsd', {
        replicas: 1,
        image: images.echo,
        ports: [{ name: 'admin', containerPort: 8126 }],
      }),
    },
    {
      namespace: 'tools',
      object: service('statsd', {
        selector: { app: 'statsd' },
        ports: [
          { name: 'metrics', port: 8125, protocol: 'UDP' },
          { name: 'admin', port: 8126 },
        ],
      }),
    },
    // Benchmark targets: a TCP echo and a bulk-data server.
    {
      namespace: 'tools',
      object: deployment('echo', {
        replicas: 1,
        image: images.echo,
        ports: [{ name: 'echo', containerPort: 7007 }],
      }),
    },
    {
      namespace: 'tools',
      object: service('echo', { selector: { app: 'echo' }, ports: [{ name: 'echo', port: 7007 }] }),
    },
    {
      namespace: 'tools',
      object: deployment('bulk', {
        replicas: 1,
        image: images.bulk,
        ports: [{ name: 'bulk', containerPort: 9000 }],
      }),
    },
    {
      namespace: 'tools',
      object: service('bulk', { selector: { app: 'bulk' }, ports: [{ name: 'bulk', port: 9000 }] }),
    },
  ];
}

function scale(options: ScenarioOptions): Scenario {
  const namespaceCount = options.namespaces ?? 10;
  const serviceCount = options.services ?? 100;
  const objects: Scenario = [];
  for (let n = 0; n < namespaceCount; n++) {
    const ns = `scale-${n}`;
    objects.push({ object: namespace(ns) });
    objects.push({
      namespace: ns,
      object: deployment('backend', {
        replicas: 1,
        image: images.http,
        ports: [{ name: 'http', containerPort: 8080 }],
      }),
    });
    for (let s = 0; s < serviceCount; s++) {
      objects.push({
        namespace: ns,
        object: service(`svc-${s}`, {
          selector: { app: 'backend' },
          ports: [{ name: 'http', port: 80, targetPort: 'http' }],
        }),
      });
    }
  }
  return objects;
}

/** An empty cluster: only the built-in namespaces. */
function empty(): Scenario {
  return [];
}

export const scenarios = { demo, scale, empty } as const;
export type ScenarioName = keyof typeof scenarios;

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(scenarios, name);
}
