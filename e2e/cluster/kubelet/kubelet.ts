/**
 * The node: schedules pods onto itself, gives each its own loopback IP, runs its containers as
 * real processes, probes readiness, restarts crashed containers with backoff, finishes graceful
 * deletion, and reports all of it in the pod's status as a kubelet does.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Container, Pod } from '../api/objects';
import type { Registry } from '../api/registry';
import { resourceTypeOfKind } from '../api/resources';
import type { ObjectStore, StoreEvent } from '../api/store';
import { missingTools, missingToolsMessage } from '../../support/system-tools';
import { spawnContainer } from './container-process';
import { resolveImage, type ImageRuntime } from './images';
import type { IpPool } from '../network/ip-slots';
import { containerEnvironment, expand, ContainerConfigError, type EnvContainer } from './container-env';
import { materializeVolumes, VolumeNotReadyError } from './volumes';
import { renderDnsView } from '../network/dns-view';
import { podStatus, type ContainerPhase, type PodCondition } from './pod-status';

const pods = resourceTypeOfKind('Pod');
const maxLogBytes = 1024 * 1024;

interface ContainerRuntime {
  spec: Container;
  image: ImageRuntime | undefined;
  phase: ContainerPhase;
  lastTerminated: ContainerPhase | undefined;
  process: ChildProcess | undefined;
  restartCount: number;
  /** Fault injection: the next restart waits at least this long (a container slow to come back). */
  nextRestartDelayMs?: number;
  ready: boolean;
  started: boolean;
  timers: Set<NodeJS.Timeout>;
  log: string;
  logEvents: EventEmitter<{ data: [string]; end: [] }>;
}

interface PodRuntime {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  directory: string;
  startTime: string;
  containers: Map<string, ContainerRuntime>;
  terminating: boolean;
  gone: boolean;
}

export interface KubeletOptions {
  store: ObjectStore;
  registry: Registry;
  podIps: IpPool;
  workDirectory: string;
  nodeName: string;
  clusterDomain: string;
  /** Names only pods resolve (stand-ins for hosts outside the cluster), to their addresses. */
  outsideHosts: () => ReadonlyMap<string, string>;
  log: (message: string) => void;
}

/** Only namespaced containers (OpenSSH, Python) see the pod's /etc/hosts; the test images need none. */
function usesDnsView(runtime: PodRuntime): boolean {
  return [...runtime.containers.values()].some(
    (c) => c.image !== undefined && c.image.kind !== 'node-program',
  );
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Signals every process of a container, as a runtime does. A supervised container (OpenSSH) is
 * told to SIGKILL its whole process group with SIGUSR2, since a SIGKILL of the supervisor itself
 * would leave its processes running.
 */
function signalContainer(container: ContainerRuntime, signal: NodeJS.Signals): boolean {
  const child = container.process;
  if (!child) return false;
  if (signal === 'SIGKILL' && container.image?.kind !== 'node-program') {
    const told = child.kill('SIGUSR2');
    setTimeout(() => child.kill('SIGKILL'), 2_000).unref();
    return told;
  }
  return child.kill(signal);
}

export class Kubelet {
  private readonly runtimes = new Map<string, PodRuntime>();
  private readonly pendingStatus = new Set<string>();
  private dnsRefreshQueued = false;
  private readonly onChange = (event: StoreEvent): void => {
    if (event.resource.kind === 'Service' || event.resource.kind === 'EndpointSlice') this.queueDnsRefresh();
    if (event.resource !== pods) return;
    setImmediate(() => this.reconcile(event));
  };

  /** Services come and go: every pod's DNS view follows, rewritten in place as cluster DNS would answer. */
  private queueDnsRefresh(): void {
    if (this.dnsRefreshQueued) return;
    this.dnsRefreshQueued = true;
    setTimeout(() => {
      this.dnsRefreshQueued = false;
      if (this.stopping) return;
      for (const runtime of this.runtimes.values())
        if (!runtime.gone && usesDnsView(runtime)) this.writeDnsView(runtime);
    }, 20);
  }

  /** Writes the pod's /etc/hosts: the DNS view its namespaced containers see. */
  private writeDnsView(runtime: PodRuntime): string {
    const file = join(runtime.directory, 'hosts');
    try {
      writeFileSync(
        file,
        renderDnsView({
          store: this.options.store,
          clusterDomain: this.options.clusterDomain,
          podNamespace: runtime.namespace,
          podName: runtime.name,
          podIp: runtime.ip,
          outside: this.options.outsideHosts(),
        }),
        { mode: 0o644 },
      );
    } catch {
      // The pod's directory is gone (it is being torn down): nothing reads the file any more.
    }
    return file;
  }

  constructor(private readonly options: KubeletOptions) {}

  start(): void {
    this.options.store.on('change', this.onChange);
    for (const pod of this.options.store.list(pods)) this.observe(pod as Pod);
  }

  /** Stops every container (SIGKILL after a short grace) and waits for the processes to exit. */
  async stop(): Promise<void> {
    // No container starts once stopping began: a restart now would outlive the cluster.
    this.stopping = true;
    this.options.store.off('change', this.onChange);
    await Promise.all([...this.runtimes.values()].map((runtime) => this.teardown(runtime, 2)));
  }

  /** Fault injection: signals a container's process; the kubelet restarts it like a crash. */
  killContainer(
    namespace: string,
    name: string,
    container?: string,
    signal: NodeJS.Signals = 'SIGKILL',
    restartDelayMs?: number,
  ): boolean {
    const runtime = this.byName(namespace, name);
    const target = container ? runtime?.containers.get(container) : runtime?.containers.values().next().value;
    if (!target?.process) return false;
    if (restartDelayMs !== undefined) target.nextRestartDelayMs = restartDelayMs;
    return signalContainer(target, signal);
  }

  /** Where the kubelet wrote a pod's volume (what its containers mount). */
  volumeDirectory(namespace: string, name: string, volume: string): string | undefined {
    const runtime = this.byName(namespace, name);
    return runtime ? join(runtime.directory, 'volumes', volume) : undefined;
  }

  /** The pid of a container's process, to read what it really runs with (`/proc/PID/environ`). */
  containerPid(namespace: string, name: string, container?: string): number | undefined {
    const runtime = this.byName(namespace, name);
    const target = container ? runtime?.containers.get(container) : runtime?.containers.values().next().value;
    return target?.process?.pid;
  }

  /** A container's output so far, and a way to follow what comes next. */
  logs(
    namespace: string,
    name: string,
    container?: string,
  ): { text: string; events: EventEmitter<{ data: [string]; end: [] }> } | undefined {
    const runtime = this.byName(namespace, name);
    const target = container ? runtime?.containers.get(container) : runtime?.containers.values().next().value;
    return target ? { text: target.log, events: target.logEvents } : undefined;
  }

  private byName(namespace: string, name: string): PodRuntime | undefined {
    return [...this.runtimes.values()].find((r) => r.namespace === namespace && r.name === name);
  }

  private reconcile(event: StoreEvent): void {
    const pod = event.object as Pod;
    if (event.type === 'DELETED') {
      const runtime = this.runtimes.get(pod.metadata.uid ?? '');
      if (runtime) void this.teardown(runtime, 0);
      return;
    }
    const current = this.options.store.get(pods, pod.metadata.namespace, pod.metadata.name ?? '') as
      Pod | undefined;
    if (current && current.metadata.uid === pod.metadata.uid) this.observe(current);
  }

  private observe(pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    let runtime = this.runtimes.get(uid);
    if (!runtime) {
      if (pod.metadata.deletionTimestamp) {
        this.options.registry.finishDeletion(pods, pod.metadata.namespace, pod.metadata.name ?? '');
        return;
      }
      runtime = this.admit(pod);
    }
    if (pod.metadata.deletionTimestamp && !runtime.terminating) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? 30;
      void this.teardown(runtime, grace).then(() => {
        this.options.registry.finishDeletion(pods, runtime.namespace, runtime.name);
      });
    }
  }

  /** Binds the pod to this node with an IP, then starts its containers. */
  private admit(pod: Pod): PodRuntime {
    const uid = pod.metadata.uid ?? '';
    const directory = join(this.options.workDirectory, 'pods', uid);
    mkdirSync(directory, { recursive: true });
    const runtime: PodRuntime = {
      uid,
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name ?? '',
      ip: this.options.podIps.allocate(),
      directory,
      startTime: now(),
      containers: new Map(),
      terminating: false,
      gone: false,
    };
    for (const spec of pod.spec.containers) {
      runtime.containers.set(spec.name, {
        spec,
        image: resolveImage(spec.image),
        phase: { state: 'waiting', reason: 'ContainerCreating' },
        lastTerminated: undefined,
        process: undefined,
        restartCount: 0,
        ready: false,
        started: false,
        timers: new Set(),
        log: '',
        logEvents: new EventEmitter(),
      });
    }
    this.runtimes.set(uid, runtime);
    const bound = structuredClone(pod);
    bound.spec.nodeName = this.options.nodeName;
    bound.status = this.statusOf(runtime, bound);
    this.options.store.update(pods, bound);
    for (const container of runtime.containers.values()) this.startContainer(runtime, container);
    return runtime;
  }

  private later(container: ContainerRuntime, ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      container.timers.delete(timer);
      action();
    }, ms);
    container.timers.add(timer);
  }

  private stopping = false;

  private startContainer(runtime: PodRuntime, container: ContainerRuntime): void {
    if (runtime.terminating || this.stopping) return;
    const pod = this.options.store.get(pods, runtime.namespace, runtime.name) as Pod | undefined;
    if (!pod || pod.metadata.uid !== runtime.uid) return;
    const image = container.image;
    if (!image) {
      const wasPulling = container.phase.state === 'waiting' && container.phase.reason === 'ErrImagePull';
      container.phase = {
        state: 'waiting',
        reason: wasPulling ? 'ImagePullBackOff' : 'ErrImagePull',
        message: wasPulling
          ? `Back-off pulling image "${container.spec.image}"`
          : `failed to pull and unpack image "${container.spec.image}": pull access denied, repository does not exist or may require authorization`,
      };
      this.queueStatus(runtime);
      this.later(container, 2000, () => this.startContainer(runtime, container));
      return;
    }
    // The OpenSSH image is this machine's own sshd: without it, say so, as a real runtime says
    // what is wrong with an image it cannot run (and expose quotes this status).
    const missing =
      image.kind === 'openssh'
        ? missingTools(['sshd', 'utilLinux'])
        : image.kind === 'host-command'
          ? missingTools([image.tool, 'utilLinux'])
          : [];
    if (missing.length > 0) {
      container.phase = {
        state: 'waiting',
        reason: 'CreateContainerError',
        message: `the test cluster runs image ${container.spec.image} with this machine's own ${image.kind === 'host-command' ? image.program : 'OpenSSH server'}, which is not installed: ${missingToolsMessage(missing).replace(/^This machine lacks .*:\n/, '')}`,
      };
      this.queueStatus(runtime);
      return;
    }
    const security = { ...pod.spec.securityContext, ...container.spec.securityContext };
    const uid = security.runAsUser ?? image.user;
    if (security.runAsNonRoot && uid === 0) {
      container.phase = {
        state: 'waiting',
        reason: 'CreateContainerConfigError',
        message: `container has runAsNonRoot and image will run as root (pod: "${runtime.name}_${runtime.namespace}(${runtime.uid})", container: ${container.spec.name})`,
      };
      this.queueStatus(runtime);
      return;
    }
    let volumes: Map<string, string>;
    try {
      volumes = materializeVolumes(this.options.store, pod, runtime.directory);
    } catch (error) {
      if (!(error instanceof VolumeNotReadyError)) throw error;
      container.phase = {
        state: 'waiting',
        reason: 'ContainerCreating',
        message: `MountVolume.SetUp failed: ${error.message}`,
      };
      this.queueStatus(runtime);
      this.later(container, 500, () => this.startContainer(runtime, container));
      return;
    }
    const env: Record<string, string> = {
      // The test images exit when this process is no longer their parent.
      LOCALIZER_KUBELET_PID: String(process.pid),
      POD_NAME: runtime.name,
      POD_NAMESPACE: runtime.namespace,
      POD_IP: runtime.ip,
      HOSTNAME: runtime.name,
      LOCALIZER_CONTAINER_PORTS: (container.spec.ports ?? [])
        .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
        .map((p) => p.containerPort)
        .join(','),
      LOCALIZER_CONTAINER_UDP_PORTS: (container.spec.ports ?? [])
        .filter((p) => p.protocol === 'UDP')
        .map((p) => p.containerPort)
        .join(','),
      // Pods share this machine's network, so a program that would listen on the pod's own
      // 127.0.0.1 (connect's relay, a router's runtime API) is told the pod's address instead,
      // as sshd is (README); port-forward dials the pod's address.
      ...(image.kind === 'host-command' ? { LOCALIZER_POD_LOOPBACK: runtime.ip } : {}),
    };
    try {
      // The pod as stored has its IPs already: the first status is written before any start.
      Object.assign(env, containerEnvironment(this.options.store, pod, container.spec as EnvContainer));
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      container.phase = { state: 'waiting', reason: 'CreateContainerConfigError', message: error.message };
      this.queueStatus(runtime);
      this.later(container, 1000, () => this.startContainer(runtime, container));
      return;
    }
    const gid = security.runAsGroup ?? uid;
    // As the kubelet does (ExpandContainerCommandAndArgs): `$(VAR)` in command and args from the
    // container's environment, `$$` for a literal `$`.
    const variable = (name: string): string | undefined => env[name];
    const child = spawnContainer({
      container: {
        ...container.spec,
        ...(container.spec.command
          ? { command: container.spec.command.map((c) => expand(c, variable)) }
          : {}),
        ...(container.spec.args ? { args: container.spec.args.map((a) => expand(a, variable)) } : {}),
      },
      runtime: image,
      env,
      mounts: (container.spec.volumeMounts ?? []).flatMap((mount) => {
        const source = volumes.get(mount.name);
        return source ? [{ source, target: mount.mountPath, readOnly: mount.readOnly ?? false }] : [];
      }),
      podIp: runtime.ip,
      ...(image.kind === 'node-program' ? {} : { hostsFile: this.writeDnsView(runtime) }),
      user: { uid, gid, groups: security.fsGroup !== undefined ? [security.fsGroup] : [] },
      workDirectory: runtime.directory,
    });
    const startedAt = now();
    container.process = child;
    container.started = true;
    container.phase = { state: 'running', startedAt };
    const append = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      container.log = (container.log + text).slice(-maxLogBytes);
      container.logEvents.emit('data', text);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.on('error', (error) => append(Buffer.from(`${error.message}\n`)));
    child.on('exit', (code, signal) => this.onExit(runtime, container, child, code, signal, startedAt));
    this.queueStatus(runtime);
    this.probe(runtime, container, child);
  }

  private onExit(
    runtime: PodRuntime,
    container: ContainerRuntime,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
    startedAt: string,
  ): void {
    if (container.process !== child) return;
    container.process = undefined;
    container.ready = false;
    const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
    const terminated: ContainerPhase = {
      state: 'terminated',
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: now(),
    };
    container.logEvents.emit('end');
    if (runtime.terminating || runtime.gone) {
      container.phase = terminated;
      return;
    }
    container.lastTerminated = terminated;
    const policy = (this.options.store.get(pods, runtime.namespace, runtime.name) as Pod | undefined)?.spec
      .restartPolicy;
    if (policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) {
      container.phase = terminated;
      this.queueStatus(runtime);
      return;
    }
    container.restartCount++;
    const ranFor = Date.now() - Date.parse(startedAt);
    const crashBackoff = ranFor > 10_000 ? 0 : Math.min(5000, 100 * 2 ** Math.min(container.restartCount, 6));
    const backoff = Math.max(crashBackoff, container.nextRestartDelayMs ?? 0);
    container.nextRestartDelayMs = undefined;
    container.phase = {
      state: 'waiting',
      reason: backoff > 0 ? 'CrashLoopBackOff' : 'ContainerCreating',
      message: `back-off ${backoff}ms restarting failed container=${container.spec.name} pod=${runtime.name}_${runtime.namespace}(${runtime.uid})`,
    };
    this.queueStatus(runtime);
    this.later(container, backoff, () => this.startContainer(runtime, container));
  }

  /** Readiness: the probe if the container has one, else every declared port accepts connections. */
  private probe(runtime: PodRuntime, container: ContainerRuntime, child: ChildProcess): void {
    const check = async (): Promise<boolean> => {
      const probe = container.spec.readinessProbe;
      const resolvePort = (port: number | string): number =>
        typeof port === 'number'
          ? port
          : (container.spec.ports?.find((p) => p.name === port)?.containerPort ?? -1);
      if (probe?.httpGet)
        return httpOk(runtime.ip, resolvePort(probe.httpGet.port), probe.httpGet.path ?? '/');
      if (probe?.tcpSocket) return tcpOpen(runtime.ip, resolvePort(probe.tcpSocket.port));
      if (container.image?.kind !== 'node-program') return true;
      const ports = (container.spec.ports ?? [])
        .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
        .map((p) => p.containerPort);
      const all = ports.length > 0 ? ports : [container.image.defaultPort];
      const results = await Promise.all(all.map((port) => tcpOpen(runtime.ip, port)));
      return results.every(Boolean);
    };
    // As the kubelet's defaults: one success makes a container ready, three failures in a row
    // (failureThreshold) make it unready. A process that exits is unready at once.
    const failureThreshold = container.spec.readinessProbe?.failureThreshold ?? 3;
    let failures = 0;
    const loop = (): void => {
      if (container.process !== child || runtime.terminating) return;
      void check().then((ok) => {
        if (container.process !== child || runtime.terminating) return;
        failures = ok ? 0 : failures + 1;
        const ready = ok || (container.ready && failures < failureThreshold);
        if (ready !== container.ready) {
          container.ready = ready;
          this.queueStatus(runtime);
        }
        this.later(container, container.ready ? 1000 : 100, loop);
      });
    };
    loop();
  }

  /** Stops the pod's processes: SIGTERM, then SIGKILL after `graceSeconds`. */
  private async teardown(runtime: PodRuntime, graceSeconds: number): Promise<void> {
    if (runtime.terminating) {
      await Promise.all([...runtime.containers.values()].map((c) => exited(c.process)));
      return;
    }
    runtime.terminating = true;
    for (const container of runtime.containers.values()) {
      for (const timer of container.timers) clearTimeout(timer);
      container.timers.clear();
      container.ready = false;
    }
    this.queueStatus(runtime);
    await Promise.all(
      [...runtime.containers.values()].map(async (container) => {
        const child = container.process;
        if (!child) return;
        signalContainer(container, graceSeconds > 0 ? 'SIGTERM' : 'SIGKILL');
        const killTimer = setTimeout(
          () => signalContainer(container, 'SIGKILL'),
          Math.min(graceSeconds, 30) * 1000,
        );
        await exited(child);
        clearTimeout(killTimer);
      }),
    );
    runtime.gone = true;
    this.runtimes.delete(runtime.uid);
    this.options.podIps.release(runtime.ip);
    rmSync(runtime.directory, { recursive: true, force: true });
  }

  private queueStatus(runtime: PodRuntime): void {
    if (this.pendingStatus.has(runtime.uid)) return;
    this.pendingStatus.add(runtime.uid);
    setImmediate(() => {
      this.pendingStatus.delete(runtime.uid);
      if (runtime.gone) return;
      const pod = this.options.store.get(pods, runtime.namespace, runtime.name) as Pod | undefined;
      if (!pod || pod.metadata.uid !== runtime.uid) return;
      pod.status = this.statusOf(runtime, pod);
      this.options.store.update(pods, pod);
    });
  }

  private statusOf(runtime: PodRuntime, pod: Pod): Record<string, unknown> {
    return podStatus(
      {
        ip: runtime.ip,
        startTime: runtime.startTime,
        terminating: runtime.terminating,
        containers: [...runtime.containers.values()].map((c) => ({
          name: c.spec.name,
          image: c.spec.image,
          imageKnown: c.image !== undefined,
          pid: c.process?.pid,
          phase: c.phase,
          lastTerminated: c.lastTerminated,
          ready: c.ready,
          started: c.started,
          restartCount: c.restartCount,
        })),
      },
      (pod.status?.conditions ?? []) as PodCondition[],
      now(),
    );
  }
}

function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  if (port <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function httpOk(host: string, port: number, path: string): Promise<boolean> {
  if (port <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const request = httpRequest({ host, port, path, timeout: 1000 }, (response) => {
      response.resume();
      resolve((response.statusCode ?? 500) < 400);
    });
    request.once('error', () => resolve(false));
    request.once('timeout', () => {
      request.destroy();
      resolve(false);
    });
    request.end();
  });
}
