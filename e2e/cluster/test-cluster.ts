/**
 * Starts a whole test cluster in this process: API server, controllers, kubelet, kube-proxy and
 * port-forward, on loopback addresses of its own. Tests start one per file; `cli.ts` runs one in
 * the foreground for demos and benchmarks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '../support/poll';
import { selfReviewRoutes } from './api/self-reviews';
import { adminRules, Authenticator, namespaceReaderRules, type PolicyRule } from './api/auth';
import { ApiServer, parseGoBool, sendJson, type ExtraRoute } from './api/http-server';
import { errors } from './api/status-errors';
import { field, isRecord } from './api/objects';
import { createClusterPki } from './api/pki';
import { Registry } from './api/registry';
import { resourceTypeOfKind } from './api/resources';
import { StartedParts } from './started-parts';
import { ObjectStore } from './api/store';
import { createEndpointsController } from './controllers/endpoints';
import { createLifecycleControllers } from './controllers/lifecycle';
import { createWorkloadControllers, isReady } from './controllers/workloads';
import { adminContext, renderKubeconfig, restrictedContext, writeKubeconfig } from './kubeconfig';
import { Kubelet } from './kubelet/kubelet';
import { IpPool, takeIpSlot } from './network/ip-slots';
import { OutsideHosts } from './network/outside-hosts';
import { KubeProxy } from './network/kube-proxy';
import { combineHooks, serviceIpHooks } from './network/service-ips';
import {
  createPortForwardHandler,
  type PortForwardFaults,
  type PortForwardUpgradeCounts,
} from './portforward/portforward-handler';
import { scenarios, type ScenarioName, type ScenarioOptions } from './scenarios/scenarios';

export interface TestClusterOptions {
  /** Which objects to start with; `demo` by default. */
  scenario?: ScenarioName;
  scenarioOptions?: ScenarioOptions;
  /** Where to write the kubeconfig; a new temp file by default. */
  kubeconfigPath?: string;
  /** API server port on 127.0.0.1; any free port by default. */
  port?: number;
  /** How long to wait for the scenario's workloads to become ready before `start` returns. */
  readyTimeoutMs?: number;
  log?: (message: string) => void;
}

/** Ways to break the cluster on purpose, in-process or through the admin endpoint. */
export interface ClusterFaults {
  /**
   * Signals a pod's container process; the kubelet restarts it, after `restartDelayMs` at least
   * when given (a container slow to come back, so the drop lasts).
   */
  killContainer(
    namespace: string,
    pod: string,
    container?: string,
    signal?: NodeJS.Signals,
    restartDelayMs?: number,
  ): boolean;
  /** Deletes a pod at once (grace period 0); its controller replaces it. */
  deletePod(namespace: string, pod: string): void;
  /** Cuts every open API connection: watches, port-forwards, keep-alives. */
  dropConnections(): void;
  /** Stops the API server and starts it again on the same port after `downtimeMs`. */
  restartApiServer(downtimeMs?: number): Promise<void>;
  /**
   * Makes new port-forwards fail (`refuse`), wait (`delay`), or work again (`normal`); `freeze`
   * makes every SPDY session, open or new, silently stop answering.
   */
  setPortForward(mode: PortForwardFaults['mode'], delayMs?: number): void;
  /** Makes port-forward upgrades of these kinds fail as a server that lacks them answers. */
  setUnsupportedPortForwards(kinds: readonly ('spdy-websocket' | 'spdy')[]): void;
  /**
   * The SPDY port-forward sessions open now stop answering anything (new ones work): a connection
   * a proxy or load balancer stopped forwarding. Returns how many were stalled.
   */
  stallPortForwardSessions(): number;
  /** Cuts every SPDY port-forward session at this age, open ones included (undefined: never). */
  setPortForwardMaxAge(ms: number | undefined): void;
  /** Makes a user's token fail with 401 from now on. */
  revokeToken(user: 'admin' | 'restricted'): void;
  /** The API server answers nothing for `ms`, then carries on, nothing lost. */
  hangApiServer(ms: number): Promise<void>;
  /** Makes a revoked token work again. */
  restoreToken(user: 'admin' | 'restricted'): void;
  /** Forgets watch history, so every watch resuming from an old resourceVersion gets 410 Gone. */
  expireWatchHistory(): void;
}

export interface TestCluster {
  kubeconfigPath: string;
  /** The API server URL, `https://127.0.0.1:<port>`. */
  server: string;
  contexts: { admin: string; restricted: string };
  /** The namespace the restricted user may read. */
  restrictedNamespace: string;
  /** Addresses this cluster uses: pods in `127.<octet>.0-127.x`, service IPs in `127.<octet>.128-255.x`. */
  addressOctet: number;
  store: ObjectStore;
  registry: Registry;
  faults: ClusterFaults;
  /** Requests and upgrades the API server has served so far. */
  requestCount(): number;
  /** Port-forward upgrades served so far, by the transport the client used. */
  portForwardUpgrades(): PortForwardUpgradeCounts;
  /**
   * A user allowed exactly `rules` (a Role's, bound in its namespace), and a kubeconfig of its
   * own whose only context is that user's, in `namespace`.
   */
  addUser(name: string, rules: PolicyRule[], namespace: string): { kubeconfigPath: string; context: string };
  /** A container's output so far, as `kubectl logs` shows it. */
  logs(namespace: string, pod: string, container?: string): string;
  /** The directory a pod's volume was written to, as its containers see it. */
  volumeDirectory(namespace: string, pod: string, volume: string): string | undefined;
  /** The environment a container's process really has, read from `/proc/PID/environ`. */
  processEnvironment(namespace: string, pod: string, container?: string): Record<string, string> | undefined;
  /** Resolves once every Deployment and StatefulSet has all its replicas ready, and services route to them. */
  waitForWorkloads(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const restrictedNamespace = 'web';
const pods = resourceTypeOfKind('Pod');

function workloadsReady(store: ObjectStore): boolean {
  for (const kind of ['Deployment', 'StatefulSet'] as const) {
    for (const workload of store.list(resourceTypeOfKind(kind))) {
      const want = (field(workload, 'spec', 'replicas') as number | undefined) ?? 1;
      const ready = store
        .list(pods, workload.metadata.namespace)
        .filter(
          (pod) =>
            pod.metadata.labels &&
            Object.entries(
              (field(workload, 'spec', 'selector', 'matchLabels') ?? {}) as Record<string, string>,
            ).every(([k, v]) => pod.metadata.labels?.[k] === v),
        )
        .filter(isReady).length;
      if (ready < want) return false;
    }
  }
  return true;
}

/** Whether every selecting Service's EndpointSlices list as many ready endpoints as it has ready pods. */
function endpointsCaughtUp(store: ObjectStore): boolean {
  const slices = store.list(resourceTypeOfKind('EndpointSlice'));
  for (const service of store.list(resourceTypeOfKind('Service'))) {
    const selector = field(service, 'spec', 'selector') as Record<string, string> | undefined;
    if (!selector || Object.keys(selector).length === 0) continue;
    const { namespace, name } = service.metadata;
    const readyPods = store
      .list(pods, namespace)
      .filter((pod) => Object.entries(selector).every(([k, v]) => pod.metadata.labels?.[k] === v))
      .filter(isReady).length;
    const readyEndpoints = slices
      .filter(
        (slice) =>
          slice.metadata.namespace === namespace &&
          slice.metadata.labels?.['kubernetes.io/service-name'] === name,
      )
      .flatMap((slice) => (field(slice, 'endpoints') ?? []) as { conditions?: { ready?: boolean } }[])
      .filter((endpoint) => endpoint.conditions?.ready === true).length;
    if (readyEndpoints !== readyPods) return false;
  }
  return true;
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const log = options.log ?? (() => undefined);
  const workDirectory = mkdtempSync(join(tmpdir(), 'localizer-test-cluster-'));
  const kubeconfigPath = options.kubeconfigPath ?? join(workDirectory, 'kubeconfig');
  const slot = takeIpSlot();
  const podIps = new IpPool(slot.octet, 0, 128);
  const outside = new OutsideHosts(podIps);
  const serviceIps = new IpPool(slot.octet, 128, 128);
  const serviceRange = `127.${slot.octet}.128.0/17`;

  const store = new ObjectStore();
  const auth = new Authenticator();
  const admin = auth.addUser('localizer-admin', ['system:masters', 'system:authenticated'], adminRules);
  const restricted = auth.addUser(
    'localizer-restricted',
    ['system:authenticated'],
    namespaceReaderRules(restrictedNamespace),
  );
  const registry = new Registry(store, combineHooks(serviceIpHooks(serviceIps, serviceRange)));
  const kubelet = new Kubelet({
    store,
    registry,
    podIps,
    workDirectory,
    nodeName: 'localizer-test-node',
    clusterDomain: 'cluster.local',
    outsideHosts: () => new Map(outside.hosts.map((h) => [h.host, h.ip])),
    log,
  });
  const portForwardFaults: PortForwardFaults = { mode: 'normal', delayMs: 0 };
  const portForward = createPortForwardHandler(store, portForwardFaults);
  const controllers = [
    createWorkloadControllers(store, registry, log),
    createEndpointsController(store, registry, log),
    createLifecycleControllers(store, registry, log),
  ];
  const kubeProxy = new KubeProxy(store, log);

  const faults: ClusterFaults = {
    killContainer: (namespace, pod, container, signal, restartDelayMs) =>
      kubelet.killContainer(namespace, pod, container, signal, restartDelayMs),
    deletePod: (namespace, pod) => registry.delete(pods, namespace, pod, { gracePeriodSeconds: 0 }),
    dropConnections: () => server.dropConnections(),
    restartApiServer: (downtimeMs) => server.restart(downtimeMs),
    setUnsupportedPortForwards: (kinds) => {
      portForwardFaults.unsupported = new Set(kinds);
    },
    stallPortForwardSessions: () => portForward.stallOpenSessions(),
    setPortForwardMaxAge: (ms) => {
      portForwardFaults.maxSessionAgeMs = ms;
      portForward.applyMaxAge();
    },
    setPortForward: (mode, delayMs = 0) => {
      portForwardFaults.mode = mode;
      portForwardFaults.delayMs = delayMs;
    },
    revokeToken: (user) => auth.revokeToken(user === 'admin' ? admin.name : restricted.name),
    hangApiServer: (ms) => server.hang(ms),
    restoreToken: (user) => auth.restoreToken(user === 'admin' ? admin.name : restricted.name),
    expireWatchHistory: () => store.compact(),
  };

  const pki = await createClusterPki();
  const server: ApiServer = new ApiServer({
    store,
    registry,
    auth,
    tls: { key: pki.serverKey, cert: pki.serverCert },
    onUpgrade: portForward.handle,
    extraRoutes: [
      selfReviewRoutes(),
      logRoute(kubelet),
      adminRoute(faults, () => ({
        requests: server.requestCount,
        portForwardUpgrades: { ...portForward.upgrades },
      })),
    ],
    ...(options.port !== undefined ? { port: options.port } : {}),
    log,
  });

  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    registry.create(resourceTypeOfKind('Namespace'), undefined, { metadata: { name } });
  }
  // In order; a part that fails to start stops those before it (a taken port must not leave a
  // kubelet and its pods running), and a stop undoes them last first.
  const parts = new StartedParts();
  const release = (): void => {
    slot.release();
    rmSync(workDirectory, { recursive: true, force: true });
  };
  try {
    await parts.start(
      'kubelet',
      () => kubelet.start(),
      () => kubelet.stop(),
    );
    for (const [index, controller] of controllers.entries())
      await parts.start(
        `controllers ${String(index + 1)}`,
        () => controller.start(),
        () => controller.stop(),
      );
    await parts.start(
      'kube-proxy',
      () => kubeProxy.start(),
      () => kubeProxy.stop(),
    );
    const scenario = scenarios[options.scenario ?? 'demo'];
    await parts.start(
      'outside hosts',
      () => outside.start(scenario.outsideHosts),
      () => outside.stop(),
    );
    for (const { namespace, object } of scenario.objects(options.scenarioOptions ?? {}, {
      outsideIp: (host) => outside.ipOf(host) ?? '',
    })) {
      registry.create(resourceTypeOfKind(object.kind ?? ''), namespace, object);
    }
    await parts.start(
      'API server',
      () => server.start(),
      () => server.stop(),
    );
    // Inside the unwinding: a kubeconfig path that cannot be written leaves nothing running.
    writeKubeconfig(
      kubeconfigPath,
      renderKubeconfig(server.url, pki.caCert, [
        { name: adminContext, user: admin.name, token: admin.token, namespace: 'default' },
        {
          name: restrictedContext,
          user: restricted.name,
          token: restricted.token,
          namespace: restrictedNamespace,
        },
      ]),
    );
  } catch (error) {
    await parts
      .stopAll()
      .catch((stopError: unknown) => log(`while unwinding a failed start: ${String(stopError)}`));
    release();
    throw error;
  }

  let stopped = false;
  const cluster: TestCluster = {
    kubeconfigPath,
    server: server.url,
    contexts: { admin: adminContext, restricted: restrictedContext },
    restrictedNamespace,
    addressOctet: slot.octet,
    store,
    registry,
    faults,
    requestCount: () => server.requestCount,
    portForwardUpgrades: () => ({ ...portForward.upgrades }),
    addUser: (name, rules, namespace) => {
      const user = auth.addUser(name, ['system:authenticated'], rules);
      const path = join(workDirectory, `kubeconfig-${name}`);
      writeKubeconfig(
        path,
        renderKubeconfig(server.url, pki.caCert, [{ name, user: name, token: user.token, namespace }]),
      );
      return { kubeconfigPath: path, context: name };
    },
    logs: (namespace, pod, container) => kubelet.logs(namespace, pod, container)?.text ?? '',
    volumeDirectory: (namespace, pod, volume) => kubelet.volumeDirectory(namespace, pod, volume),
    processEnvironment: (namespace, pod, container) => {
      const pid = kubelet.containerPid(namespace, pod, container);
      if (pid === undefined) return undefined;
      const entries = readFileSync(`/proc/${String(pid)}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean);
      return Object.fromEntries(
        entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
      );
    },
    waitForWorkloads: (timeoutMs = 30_000) =>
      pollUntil(
        () => workloadsReady(store) && endpointsCaughtUp(store) && kubeProxy.isSettled(),
        timeoutMs,
        'every workload to be ready and routed',
      ),
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await parts.stopAll();
      } finally {
        release();
      }
    },
  };
  try {
    await cluster.waitForWorkloads(options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** `GET …/pods/{name}/log`, with `follow=true` streaming until the container stops. */
function logRoute(kubelet: Kubelet): ExtraRoute {
  return ({ request, response, url, path }) => {
    if (path?.type.kind !== 'Pod' || path.subresource !== 'log' || request.method !== 'GET') return false;
    const logs = kubelet.logs(
      path.namespace ?? '',
      path.name ?? '',
      url.searchParams.get('container') ?? undefined,
    );
    if (!logs) throw errors.badRequest(`container is not running in pod "${path.name ?? ''}"`);
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    response.write(logs.text);
    if (!parseGoBool(url.searchParams.get('follow'))) {
      response.end();
      return true;
    }
    const onData = (text: string): void => void response.write(text);
    const onEnd = (): void => void response.end();
    logs.events.on('data', onData);
    logs.events.once('end', onEnd);
    response.on('close', () => {
      logs.events.off('data', onData);
      logs.events.off('end', onEnd);
    });
    return true;
  };
}

/** `POST /localizer-test/v1/faults/<name>` for cluster admins: fault injection from outside the process. */
function adminRoute(faults: ClusterFaults, stats: () => Record<string, unknown>): ExtraRoute {
  return ({ request, response, url, user, body }) => {
    if (url.pathname === '/localizer-test/v1/stats' && user.groups.includes('system:masters')) {
      sendJson(response, 200, stats());
      return true;
    }
    const match = /^\/localizer-test\/v1\/faults\/([a-z-]+)$/.exec(url.pathname);
    if (!match) return false;
    if (!user.groups.includes('system:masters')) {
      throw errors.forbidden({
        user: user.name,
        verb: 'create',
        resource: 'faults',
        group: 'localizer-test',
        namespace: undefined,
      });
    }
    if (request.method !== 'POST') throw errors.methodNotAllowed();
    const input: unknown = body.trim() ? JSON.parse(body) : {};
    const args = isRecord(input) ? input : {};
    const text = (key: string): string => (typeof args[key] === 'string' ? args[key] : '');
    switch (match[1]) {
      case 'kill-container':
        if (
          !faults.killContainer(
            text('namespace'),
            text('pod'),
            text('container') || undefined,
            (text('signal') || 'SIGKILL') as NodeJS.Signals,
          )
        ) {
          throw errors.notFound('pods', '', text('pod'));
        }
        break;
      case 'delete-pod':
        faults.deletePod(text('namespace'), text('pod'));
        break;
      case 'drop-connections':
        // Answer first: this request's own connection is one of those dropped.
        sendJson(response, 200, { ok: true });
        setImmediate(() => faults.dropConnections());
        return true;
      case 'restart-api-server':
        sendJson(response, 200, { ok: true });
        setImmediate(
          () => void faults.restartApiServer(typeof args.downtimeMs === 'number' ? args.downtimeMs : 0),
        );
        return true;
      case 'port-forward':
        faults.setPortForward(
          (text('mode') || 'normal') as PortForwardFaults['mode'],
          typeof args.delayMs === 'number' ? args.delayMs : 0,
        );
        break;
      case 'stall-port-forwards':
        sendJson(response, 200, { stalled: faults.stallPortForwardSessions() });
        return true;
      case 'port-forward-max-age':
        faults.setPortForwardMaxAge(typeof args.ms === 'number' ? args.ms : undefined);
        break;
      case 'revoke-token':
        faults.revokeToken(text('user') === 'admin' ? 'admin' : 'restricted');
        break;
      case 'expire-watch-history':
        faults.expireWatchHistory();
        break;
      default:
        throw errors.unknownPath();
    }
    sendJson(response, 200, { ok: true });
    return true;
  };
}
