/**
 * The clusters a test or a demo can start with. `demo` shows every kind of Service Localizer has to
 * handle; `scale` is many services over few pods, for benchmarks.
 */
import type { KubeObject } from '../api/objects';
import type { OutsideHostSpec } from '../network/outside-hosts';
import { deployment, externalNameService, images, namespace, service, statefulSet } from './builders';

/** Objects to create, each with the namespace it goes in (none for namespaces). */
export type Scenario = { namespace?: string; object: KubeObject }[];

export interface ScenarioOptions {
  /** scale: how many namespaces. */
  namespaces?: number;
  /** scale: how many services in each namespace. */
  services?: number;
}

/** What a scenario may ask of the cluster it is created in. */
export interface ScenarioWorld {
  /** The address of an outside host the scenario declared. */
  outsideIp: (host: string) => string;
}

/** The demo's outside world: a SaaS API and a database that only the cluster's network reaches. */
const demoOutsideHosts: OutsideHostSpec[] = [
  { host: 'billing.example.com', program: 'http-server.mjs', tcpPorts: [8080] },
  {
    host: 'legacy-db.corp.example',
    program: 'echo-server.mjs',
    tcpPorts: [5432],
    greeting: 'legacy-db.corp.example: echo\n',
  },
];

/**
 * A selector-less service and its hand-made endpoints, as one points a name at a database
 * outside the cluster.
 */
function legacyDatabase(world: ScenarioWorld): Scenario {
  const address = world.outsideIp('legacy-db.corp.example');
  return [
    { namespace: 'data', object: service('legacy-db', { ports: [{ name: 'pg', port: 5432 }] }) },
    {
      namespace: 'data',
      object: {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'legacy-db-1',
          labels: {
            'kubernetes.io/service-name': 'legacy-db',
            'endpointslice.kubernetes.io/managed-by': 'staff.example.com',
          },
        },
        addressType: 'IPv4',
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
        endpoints: [{ addresses: [address], conditions: { ready: true } }],
      },
    },
  ];
}

function demo(_options: ScenarioOptions, world: ScenarioWorld): Scenario {
  return [
    { object: namespace('web') },
    { object: namespace('data') },
    { object: namespace('tools') },
    { object: namespace('cache') },
    // A real Redis 7 server (Debian's), for real clients: redis-cli, `nc -N`.
    {
      namespace: 'cache',
      object: deployment('redis', {
        replicas: 1,
        image: images.redis,
        ports: [{ name: 'redis', containerPort: 6379 }],
        args: ['--bind', '$(POD_IP)', '--port', '6379', '--save', '', '--appendonly', 'no'],
        env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
        readinessProbe: { tcpSocket: { port: 'redis' } },
      }),
    },
    {
      namespace: 'cache',
      object: service('redis', { selector: { app: 'redis' }, ports: [{ name: 'redis', port: 6379 }] }),
    },
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
    // What port-forward cannot reach, so connect relays it: a name outside the cluster, a
    // selector-less service whose endpoint is outside it, and a UDP port.
    {
      namespace: 'data',
      object: externalNameService('billing', 'billing.example.com', [{ name: 'http', port: 8080 }]),
    },
    ...legacyDatabase(world),
    {
      namespace: 'tools',
      object: deployment('statsd', {
        replicas: 1,
        image: images.echo,
        ports: [
          { name: 'admin', containerPort: 8126 },
          { name: 'metrics', containerPort: 8125, protocol: 'UDP' },
        ],
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
    // A workload configured every way a pod can be (`localizer env web/deploy/orders`): plain
    // values, $(VAR) references, ConfigMap and Secret keys and whole sources with prefixes,
    // optional references, downward-API fields and resources, in-cluster addresses, and files.
    ...ordersWorkload(),
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

function ordersWorkload(): Scenario {
  const base64 = (text: string): string => Buffer.from(text).toString('base64');
  return [
    {
      namespace: 'web',
      object: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'orders-config' },
        data: {
          LOG_LEVEL: 'info',
          API_URL: 'http://api.web.svc.cluster.local:8080/v1',
          KV_ADDRESS: 'kv-0.kv.data:6379',
          'feature.flags': 'checkout=on,wishlist=off',
          'app.properties': 'orders.page-size=50\norders.currency=EUR\n',
        },
      },
    },
    {
      namespace: 'web',
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'orders-db' },
        type: 'Opaque',
        data: {
          username: base64('orders'),
          password: base64('s3cr3t $(not) "quoted"'),
          'tls.key': base64('-----KEY-----\n'),
        },
      },
    },
    {
      namespace: 'web',
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'orders', labels: { app: 'orders' } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'orders' } },
          template: {
            metadata: {
              labels: { app: 'orders', tier: 'backend' },
              annotations: { 'team.example/owner': 'payments' },
            },
            spec: {
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'orders',
                  image: images.http,
                  ports: [{ name: 'http', containerPort: 8080 }],
                  resources: { limits: { memory: '256Mi', cpu: '500m' }, requests: { cpu: '250m' } },
                  envFrom: [
                    { prefix: 'CFG_', configMapRef: { name: 'orders-config' } },
                    { configMapRef: { name: 'orders-optional', optional: true } },
                  ],
                  env: [
                    { name: 'APP_MODE', value: 'demo' },
                    { name: 'DB_USER', valueFrom: { secretKeyRef: { name: 'orders-db', key: 'username' } } },
                    {
                      name: 'DB_PASSWORD',
                      valueFrom: { secretKeyRef: { name: 'orders-db', key: 'password' } },
                    },
                    {
                      name: 'DATABASE_URL',
                      value: 'postgres://$(DB_USER):$(DB_PASSWORD)@legacy-db.data:5432/orders',
                    },
                    { name: 'LITERAL', value: '$$(DB_USER) and $(UNDEFINED_VAR)' },
                    {
                      name: 'API_URL',
                      valueFrom: { configMapKeyRef: { name: 'orders-config', key: 'API_URL' } },
                    },
                    { name: 'CFG_LOG_LEVEL', value: 'debug' },
                    {
                      name: 'OPTIONAL_MISSING',
                      valueFrom: {
                        configMapKeyRef: { name: 'orders-config', key: 'absent', optional: true },
                      },
                    },
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                    { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
                    {
                      name: 'OWNER',
                      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['team.example/owner']" } },
                    },
                    {
                      name: 'MEMORY_LIMIT_MI',
                      valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } },
                    },
                    {
                      name: 'CPU_REQUEST_MILLIS',
                      valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } },
                    },
                    {
                      name: 'WITH_POD',
                      value: 'orders on $(POD_NAME) at $(API_SERVICE_HOST):$(API_SERVICE_PORT)',
                    },
                  ],
                  volumeMounts: [
                    { name: 'config', mountPath: '/etc/orders' },
                    { name: 'config', mountPath: '/etc/orders-app.properties', subPath: 'app.properties' },
                    { name: 'db', mountPath: '/var/run/secrets/orders-db', readOnly: true },
                    { name: 'podinfo', mountPath: '/etc/podinfo' },
                  ],
                },
                {
                  name: 'metrics',
                  image: images.echo,
                  ports: [{ name: 'metrics', containerPort: 9400 }],
                  envFrom: [{ prefix: 'DB_', secretRef: { name: 'orders-db' } }],
                  env: [{ name: 'SCRAPE_TARGET', value: 'localhost:8080' }],
                },
              ],
              volumes: [
                {
                  name: 'config',
                  configMap: {
                    name: 'orders-config',
                    items: [
                      { key: 'app.properties', path: 'app.properties' },
                      { key: 'feature.flags', path: 'flags/features', mode: 0o640 },
                    ],
                  },
                },
                { name: 'db', secret: { secretName: 'orders-db', defaultMode: 0o400 } },
                {
                  name: 'podinfo',
                  downwardAPI: {
                    items: [
                      { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                      { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' }, mode: 0o600 },
                      { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
                      {
                        path: 'memory-limit',
                        resourceFieldRef: {
                          containerName: 'orders',
                          resource: 'limits.memory',
                          divisor: '1Mi',
                        },
                      },
                    ],
                  },
                },
              ],
            },
          },
        },
      },
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

interface ScenarioDefinition {
  objects: (options: ScenarioOptions, world: ScenarioWorld) => Scenario;
  outsideHosts: OutsideHostSpec[];
}

export const scenarios: Record<'demo' | 'scale' | 'empty', ScenarioDefinition> = {
  demo: { objects: demo, outsideHosts: demoOutsideHosts },
  scale: { objects: scale, outsideHosts: [] },
  empty: { objects: empty, outsideHosts: [] },
};
export type ScenarioName = keyof typeof scenarios;

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(scenarios, name);
}
