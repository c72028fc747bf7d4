/**
 * One expose, from start to stop: refuse what cannot work, create the SSH pod, open the reverse
 * tunnel, and only once the cluster routes to the pod scale the service's workloads down, so
 * callers never meet a gap. It keeps the tunnel up (recreating the pod if it goes) until stopped,
 * then restores the exact replicas and deletes what it made. Every cluster change is recorded
 * before it is made, so a crash leaves nothing `cleanUpLeftovers` cannot find.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import type { ExposeState, TunnelStatus } from '../../../shared/tunnel-status';
import { describeError, errorStatus } from '../kube/api-errors';
import type { PodDialer } from '../kube/pod-dialer';
import { removeRecord, writeRecord } from './expose-records';
import type { KubeApis } from './leftovers';
import { resolveExposedPorts, type ExposedPort, type PortMapping } from './port-map';
import { HostKeyMismatchError, ReverseTunnel, type TunnelCounters } from './reverse-tunnel';
import {
  generateSshKeys,
  labels,
  sshPod,
  sshPodName,
  sshPort,
  sshSecret,
  type SshImage,
  type SshKeys,
  type SshPodSpec,
} from './ssh-pod';
import {
  ExposeRefusedError,
  findServingWorkloads,
  readiness,
  refuseAutoscaled,
  restore,
  scaleDown,
  type ServingWorkload,
} from './workload-scaler';

export interface ExposeRequest {
  namespace: string;
  service: string;
  /** Empty: every TCP service port to the same port number on this machine. */
  mappings: PortMapping[];
  /** The SSH image for this expose, instead of the manager's. */
  image?: SshImage;
}

/** The API groups an expose reads and changes. */
export type SessionApis = KubeApis & { autoscaling: k8s.AutoscalingV2Api; discovery: k8s.DiscoveryV1Api };

export interface ExposeSessionOptions {
  context: string;
  /** Where the context was read from, for the record a later run cleans up from. */
  kubeconfigFiles?: string[];
  apis: SessionApis;
  dialer: PodDialer;
  stateDirectory: string;
  /** `user@host`, written on everything the expose changes. */
  owner: string;
  image: SshImage;
  request: ExposeRequest;
  /** How long the pod may take to run and become routable before the expose fails. */
  startTimeoutMs?: number;
  /** How long a stop keeps the tunnel serving while the restored workloads' pods become ready. */
  restoreTimeoutMs?: number;
  keepaliveIntervalMs?: number;
}

const pollMs = 250;
/** How long a stop lets calls already in the tunnel finish. */
const drainTimeoutMs = 10_000;
const minBackoffMs = 500;
const maxBackoffMs = 15_000;
/** Waiting reasons that will not fix themselves; the pod's own message says more. */
const hopelessReasons =
  /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError|CrashLoopBackOff/;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class ExposeSession extends EventEmitter<{ status: [] }> {
  readonly session = randomBytes(8).toString('hex');
  private state: ExposeState = 'starting';
  private reason = '';
  private lastError: string | null = null;
  private lastChange = new Date().toISOString();
  private readonly counters: TunnelCounters & { reconnects: number } = {
    connections: 0,
    activeConnections: 0,
    bytesIn: 0,
    bytesOut: 0,
    reconnects: 0,
  };
  private ports: ExposedPort[] = [];
  private workloads: ServingWorkload[] = [];
  private scaledDown = false;
  private keys: SshKeys | undefined;
  private podName: string | null = null;
  private secret: k8s.V1Secret | undefined;
  private tunnel: ReverseTunnel | undefined;
  private localProblem: string | null = null;
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnecting: Promise<void> | undefined;
  private attempt = 0;

  constructor(private readonly options: ExposeSessionOptions) {
    super();
  }

  get id(): string {
    return `${this.options.context}/${this.options.request.namespace}/${this.options.request.service}`;
  }

  private get target(): string {
    return `${this.options.request.namespace}/${this.options.request.service}`;
  }

  private get secretName(): string {
    return sshPodName(this.options.request.service, this.session);
  }

  private set(state: ExposeState, reason: string): void {
    if (state !== this.state || reason !== this.reason) this.lastChange = new Date().toISOString();
    this.state = state;
    this.reason = reason;
    this.emit('status');
  }

  /** Resolves once traffic flows to the laptop; rejects, with everything undone, when it cannot. */
  async start(): Promise<void> {
    const { apis, request } = this.options;
    try {
      this.set('starting', `reading service ${this.target}`);
      const service = await this.readService();
      this.workloads = await findServingWorkloads(apis.apps, service).catch((error: unknown) => {
        throw this.refusal(error, `list the workloads in namespace ${request.namespace}`);
      });
      await this.refuseIfExposed();
      await refuseAutoscaled(apis.autoscaling, this.workloads).catch((error: unknown) => {
        // Without read access to autoscalers there is nothing to check; a refusal is final.
        if (error instanceof ExposeRefusedError) throw error;
      });
      this.ports = resolveExposedPorts(
        service,
        this.workloads.flatMap((w) => (w.template ? [w.template] : [])),
        request.mappings,
      );
      this.keys = generateSshKeys();
      writeRecord(this.options.stateDirectory, {
        session: this.session,
        pid: process.pid,
        context: this.options.context,
        ...(this.options.kubeconfigFiles ? { kubeconfigFiles: this.options.kubeconfigFiles } : {}),
        namespace: request.namespace,
        service: request.service,
        objectName: this.secretName,
        workloads: this.workloads.map(({ kind, namespace, name }) => ({ kind, namespace, name })),
      });
      this.set('starting', `creating the SSH pod in ${request.namespace}`);
      await this.createSecretAndPod(service);
      await this.connect();
      this.set('starting', `waiting for the cluster to route ${this.target} to the SSH pod`);
      await this.waitForPod(isReady, 'become ready');
      this.set('starting', `scaling down ${this.describeWorkloads()}`);
      await scaleDown(apis.apps, this.workloads, { owner: this.options.owner, session: this.session }).catch(
        (error: unknown) => {
          throw this.refusal(error, `scale ${this.describeWorkloads()}`);
        },
      );
      this.scaledDown = true;
      this.set('running', this.localProblem ?? '');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = message;
      await this.undo().catch((undoError: unknown) => {
        this.lastError = `${message}; undoing it also failed: ${describeError(undoError)}`;
      });
      this.set('failed', message);
      throw error;
    }
  }

  private describeWorkloads(): string {
    return this.workloads.length === 0
      ? 'no workloads (none serve the service)'
      : this.workloads.map((w) => `${w.kind} ${w.namespace}/${w.name}`).join(', ');
  }

  /** A refused request as an ExposeRefusedError naming what was being done and what to do. */
  private refusal(error: unknown, doing: string): Error {
    if (error instanceof ExposeRefusedError) return error;
    if (errorStatus(error) === 403) {
      return new ExposeRefusedError(
        `Your account may not ${doing}: ${describeError(error)}. Exposing needs get/list/patch on deployments, statefulsets and replicasets, create/delete/patch on pods and create/delete on secrets, in namespace ${this.options.request.namespace}; ask a cluster admin for them.`,
      );
    }
    return new Error(`Could not ${doing}: ${describeError(error)}`);
  }

  private async readService(): Promise<k8s.V1Service> {
    const { namespace, service } = this.options.request;
    try {
      return await this.options.apis.core.readNamespacedService({ namespace, name: service });
    } catch (error) {
      if (errorStatus(error) === 404)
        throw new ExposeRefusedError(
          `There is no service ${this.target} in context ${this.options.context}. Check the name with \`localizer list\` or \`kubectl get services -n ${namespace}\`.`,
        );
      throw this.refusal(error, `read service ${this.target}`);
    }
  }

  private async refuseIfExposed(): Promise<void> {
    const { namespace } = this.options.request;
    const pods = await this.options.apis.core
      .listNamespacedPod({ namespace, labelSelector: labels.session })
      .catch((error: unknown) => {
        throw this.refusal(error, `list pods in namespace ${namespace}`);
      });
    // A terminating pod is an expose that was stopped: it no longer takes calls.
    const existing = pods.items.find(
      (pod) =>
        pod.metadata?.annotations?.['localizer.dev/service'] === this.target &&
        !pod.metadata.deletionTimestamp,
    );
    if (existing) {
      const owner = existing.metadata?.annotations?.['localizer.dev/owner'] ?? 'someone';
      throw new ExposeRefusedError(
        `${this.target} is already exposed by ${owner} (pod ${existing.metadata?.name ?? ''}). Stop that expose first (\`localizer expose ${this.target} --stop\`), or run \`localizer cleanup --force\` if it is abandoned.`,
      );
    }
  }

  private get image(): SshImage {
    return this.options.request.image ?? this.options.image;
  }

  private podSpec(service: k8s.V1Service): SshPodSpec {
    if (!this.keys) throw new Error('keys are made before the pod');
    return {
      name: this.secretName,
      namespace: this.options.request.namespace,
      session: this.session,
      owner: this.options.owner,
      service,
      ports: this.ports,
      keys: this.keys,
      image: this.image,
      originalReplicas: this.workloads.map((w) => `${w.kind}/${w.name}=${String(w.replicas)}`).join(','),
    };
  }

  private service: k8s.V1Service | undefined;

  private async createSecretAndPod(service: k8s.V1Service): Promise<void> {
    this.service = service;
    const namespace = this.options.request.namespace;
    const spec = this.podSpec(service);
    this.secret = await this.options.apis.core
      .createNamespacedSecret({ namespace, body: sshSecret(spec) })
      .catch((error: unknown) => {
        throw this.refusal(error, `create a Secret in namespace ${namespace}`);
      });
    await this.createPod();
  }

  /** A pod of a fresh name each time, so a replacement never waits for its terminating predecessor. */
  private async createPod(): Promise<void> {
    if (!this.service || !this.secret) throw new Error('the Secret is created before the pod');
    const namespace = this.options.request.namespace;
    const pod = sshPod(this.podSpec(this.service), this.secret);
    const name = `${this.secretName}-${randomBytes(2).toString('hex')}`;
    if (pod.metadata) pod.metadata.name = name;
    await this.options.apis.core.createNamespacedPod({ namespace, body: pod }).catch((error: unknown) => {
      throw this.refusal(error, `create a pod in namespace ${namespace}`);
    });
    this.podName = name;
    this.emit('status');
  }

  private async readPod(): Promise<k8s.V1Pod | undefined> {
    if (!this.podName) return undefined;
    try {
      return await this.options.apis.core.readNamespacedPod({
        namespace: this.options.request.namespace,
        name: this.podName,
      });
    } catch (error) {
      if (errorStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** Polls the pod until `condition`, failing early on a waiting reason that will not pass. */
  private async waitForPod(condition: (pod: k8s.V1Pod) => boolean, what: string): Promise<k8s.V1Pod> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 120_000);
    let lastSeen = 'it was never scheduled';
    while (Date.now() < deadline) {
      if (this.stopping) throw new Error('the expose was stopped');
      const pod = await this.readPod();
      if (!pod) throw new Error(`the SSH pod ${this.podName ?? ''} was deleted while starting`);
      if (condition(pod)) return pod;
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
      if (waiting?.reason) {
        lastSeen = `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
        if (hopelessReasons.test(waiting.reason))
          throw await this.sshPodProblem(`The SSH pod ${this.podName ?? ''} cannot start (${lastSeen}).`);
      }
      await delay(pollMs);
    }
    throw new Error(`The SSH pod ${this.podName ?? ''} did not ${what} in time (${lastSeen}).`);
  }

  /** Waits for the pod to run, then opens the tunnel; sshd may need a moment after the container starts. */
  private async connect(): Promise<void> {
    if (!this.keys) throw new Error('keys are made before connecting');
    const pod = await this.waitForPod(
      (p) => p.status?.phase === 'Running' && Boolean(p.status.podIP),
      'start running',
    );
    // sshd may need a moment after the container starts, but not more than this.
    const answerMs = Math.min(30_000, this.options.startTimeoutMs ?? 120_000);
    const deadline = Date.now() + answerMs;
    for (;;) {
      try {
        const stream = await this.options.dialer.dial(
          { namespace: this.options.request.namespace, pod: this.podName ?? '', uid: pod.metadata?.uid },
          sshPort,
        );
        const tunnel = await ReverseTunnel.open({
          stream,
          user: this.image.user,
          clientPrivateKey: this.keys.clientPrivateKey,
          hostPublicKey: this.keys.hostPublicKey,
          listenAddress: pod.status?.podIP ?? '',
          ports: this.ports,
          counters: this.counters,
          ...(this.options.keepaliveIntervalMs
            ? { keepaliveIntervalMs: this.options.keepaliveIntervalMs }
            : {}),
        });
        this.adopt(tunnel);
        return;
      } catch (error) {
        if (error instanceof HostKeyMismatchError || this.stopping) throw error;
        if (Date.now() > deadline) {
          const said = error instanceof Error ? error.message : String(error);
          throw await this.sshPodProblem(
            `sshd in the SSH pod ${this.podName ?? ''} did not answer on port ${String(sshPort)} within ${String(answerMs / 1000)} s (${said}).`,
          );
        }
        await delay(pollMs);
      }
    }
  }

  /**
   * The SSH pod will not serve: `summary`, then the last lines its container logged (which say
   * why: a bad key, a missing account) and what to check.
   */
  private async sshPodProblem(summary: string): Promise<Error> {
    const namespace = this.options.request.namespace;
    const pod = this.podName ?? '';
    let logged = '';
    try {
      const log = await this.options.apis.core.readNamespacedPodLog({ namespace, name: pod, tailLines: 5 });
      const lines = log.trim().split('\n').filter(Boolean);
      logged = lines.length > 0 ? ` Its log ends: "${lines.join(' / ')}".` : ' Its log is empty.';
    } catch {
      // Unreadable (RBAC, the pod went): the summary still stands.
    }
    const { image, user, uid } = this.image;
    return new Error(
      `${summary}${logged} The SSH image setting (now ${image}) must start /usr/sbin/sshd as the account ${user} (uid ${String(uid)}); see the whole log with \`kubectl -n ${namespace} logs ${pod}\`.`,
    );
  }

  private adopt(tunnel: ReverseTunnel): void {
    this.tunnel = tunnel;
    this.attempt = 0;
    tunnel.on('localProblem', (problem) => {
      this.localProblem = problem;
      if (problem) this.lastError = problem;
      if (this.state === 'running') this.set('running', problem ?? '');
    });
    tunnel.on('closed', (error) => {
      if (this.tunnel !== tunnel || this.stopping) return;
      this.tunnel = undefined;
      const why = error ? `the tunnel closed: ${error.message}` : 'the tunnel to the SSH pod closed';
      this.lastError = why;
      this.set('reconnecting', `${why}; reconnecting`);
      this.scheduleReconnect();
    });
  }

  /** A call, not a field read: `stop()` may run while a reconnect awaits. */
  private isStopping(): boolean {
    return this.stopping;
  }

  private scheduleReconnect(): void {
    if (this.stopping) return;
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.attempt);
    this.attempt++;
    const wait = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnecting = this.reconnect();
    }, wait);
  }

  /** Brings the tunnel back, recreating the pod (and its Secret) if they went. */
  private async reconnect(): Promise<void> {
    if (this.stopping) return;
    this.counters.reconnects++;
    try {
      const pod = await this.readPod();
      if (!pod || pod.metadata?.deletionTimestamp) {
        this.set('reconnecting', 'the SSH pod is gone; creating a new one');
        await this.ensureSecret();
        await this.createPod();
      }
      await this.connect();
      if (this.isStopping()) return;
      this.set('running', this.localProblem ?? '');
    } catch (error) {
      if (this.isStopping()) return;
      const message = error instanceof Error ? error.message : describeError(error);
      this.lastError = message;
      this.set(error instanceof HostKeyMismatchError ? 'failed' : 'reconnecting', message);
      this.scheduleReconnect();
    }
  }

  private async ensureSecret(): Promise<void> {
    const namespace = this.options.request.namespace;
    try {
      this.secret = await this.options.apis.core.readNamespacedSecret({ namespace, name: this.secretName });
    } catch (error) {
      if (errorStatus(error) !== 404 || !this.service) throw error;
      this.secret = await this.options.apis.core.createNamespacedSecret({
        namespace,
        body: sshSecret(this.podSpec(this.service)),
      });
    }
  }

  /**
   * Restores the replicas, waits (bounded) for their pods to be ready, then deletes the pod and
   * Secret. Idempotent. Resolves with a notice when the workloads were not ready in time.
   */
  async stop(): Promise<string | null> {
    if (this.stopping) return null;
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    // A reconnect under way may be creating a pod: let it finish, so undo sees (and deletes) it.
    await this.reconnecting;
    if (this.state !== 'failed') this.set('stopping', `restoring ${this.describeWorkloads()}`);
    try {
      return await this.undo();
    } finally {
      this.tunnel?.close();
      this.tunnel = undefined;
    }
  }

  /**
   * Puts the workloads back first and keeps the tunnel serving until their pods are ready, so a
   * caller never meets a service with nowhere to go.
   */
  private async undo(): Promise<string | null> {
    const { apis, request } = this.options;
    if (!this.keys) return null; // Nothing in the cluster was changed yet.
    await restore(apis.apps, this.workloads, this.session);
    const notice = this.scaledDown && this.tunnel ? await this.waitForRestoredPods() : null;
    this.scaledDown = false;
    await this.drain();
    this.tunnel?.close();
    this.tunnel = undefined;
    const namespace = request.namespace;
    const ignoreGone = (error: unknown): void => {
      if (errorStatus(error) !== 404) throw error;
    };
    if (this.secret)
      await apis.core.deleteNamespacedSecret({ namespace, name: this.secretName }).catch(ignoreGone);
    const pods = await apis.core.listNamespacedPod({
      namespace,
      labelSelector: `${labels.session}=${this.session}`,
    });
    for (const pod of pods.items) {
      if (pod.metadata?.name)
        await apis.core.deleteNamespacedPod({ namespace, name: pod.metadata.name }).catch(ignoreGone);
    }
    removeRecord(this.options.stateDirectory, this.session);
    return notice;
  }

  /**
   * Takes the SSH pod out of the service before the tunnel closes: without the selector's labels
   * the cluster routes no new call to it, and the calls already in the tunnel finish. Bounded, and
   * skipped (the pod is simply deleted) where the account may not patch pods.
   */
  private async drain(): Promise<void> {
    const selector = this.service?.spec?.selector ?? {};
    const podName = this.podName;
    if (!this.tunnel || !podName || Object.keys(selector).length === 0) return;
    const { apis, request } = this.options;
    const namespace = request.namespace;
    const ours: string[] = Object.values(labels);
    const removed = Object.fromEntries(
      Object.keys(selector)
        .filter((key) => !ours.includes(key))
        .map((key) => [key, null]),
    );
    try {
      await apis.core.patchNamespacedPod(
        { namespace, name: podName, body: { metadata: { labels: removed } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch {
      return;
    }
    this.set('stopping', `letting the calls in the tunnel to ${this.target} finish`);
    const routed = async (): Promise<boolean> => {
      const slices = await apis.discovery
        .listNamespacedEndpointSlice({
          namespace,
          labelSelector: `kubernetes.io/service-name=${request.service}`,
        })
        .catch(() => ({ items: [] as k8s.V1EndpointSlice[] }));
      return slices.items.some((slice) => (slice.endpoints ?? []).some((e) => e.targetRef?.name === podName));
    };
    const deadline = Date.now() + drainTimeoutMs;
    while (Date.now() < deadline && (await routed())) await delay(pollMs);
    while (Date.now() < deadline && this.counters.activeConnections > 0) await delay(pollMs);
  }

  /**
   * Polls the restored workloads until every pod they want is ready. Bounded: a workload that
   * cannot start (a bad image, no room) must not hold the stop, or Quit, forever.
   */
  private async waitForRestoredPods(): Promise<string | null> {
    const timeoutMs = this.options.restoreTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let waiting: string[] = [];
    for (;;) {
      const counts = await readiness(this.options.apis.apps, this.workloads).catch(() => undefined);
      // Unreadable (RBAC, a lost cluster): nothing to wait for that we could see.
      if (!counts) return null;
      waiting = counts
        .filter((c) => c.ready < c.wanted)
        .map(
          (c) =>
            `${c.workload.kind} ${c.workload.namespace}/${c.workload.name} (${String(c.ready)} of ${String(c.wanted)} pods ready)`,
        );
      if (waiting.length === 0) return null;
      if (Date.now() > deadline) break;
      this.set('stopping', `waiting for ${waiting.join(', ')}`);
      await delay(pollMs);
    }
    const namespace = this.options.request.namespace;
    return `after ${String(Math.round(timeoutMs / 1000))} s the restored workloads are still not ready: ${waiting.join(', ')}. The SSH pod was removed anyway, so the service may have no ready pod for now; see why with \`kubectl -n ${namespace} get pods\`.`;
  }

  snapshot(): TunnelStatus {
    const { namespace, service } = this.options.request;
    return {
      context: this.options.context,
      kind: 'expose',
      namespace,
      name: service,
      status: this.state,
      reason: this.reason,
      endpoint: this.podName,
      ip: null,
      hostnames: [],
      // For an expose, the target is the port on this machine.
      ports: this.ports.map((p) => ({ port: p.servicePort, targetPort: p.localPort, protocol: 'TCP' })),
      counters: { ...this.counters },
      lastError: this.lastError,
      lastChange: this.lastChange,
    };
  }
}
