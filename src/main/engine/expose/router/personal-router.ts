/**
 * The router of a Service's personal intercepts, in the cluster: its ConfigMap (the shared state
 * and HAProxy's configuration), an origin Service that selects the Service's own pods, and the
 * router pod, which the Service selects while any developer holds a route. The first developer
 * makes it and takes the Service (one resourceVersion-guarded selector patch, as a takeover);
 * the others join it through HAProxy's runtime API, so it is never restarted; the last to leave
 * gives the Service its selector back and removes it all.
 */
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { errorStatus } from '../../kube/api-errors';
import { localizerKeys } from '../../kube/localizer-keys';
import type { PodDialer } from '../../kube/pod-dialer';
import type { Clock } from '../../timing/clock';
import { refusal, type SessionApis } from '../expose-preflight';
import type { ExposedPort } from '../port-map';
import { giveBack, takeOver, type GiveBackOutcome } from '../service-takeover';
import { isPodReady } from '../ssh-pod-keeper';
import { ExposeRefusedError } from '../workload-scaler';
import { routerConnections, runRouterCommands, type AdminDialer } from './router-admin';
import {
  closingCommands,
  joinCommands,
  portKind,
  releaseCommands,
  routerAdminPort,
  unrouteCommands,
  type RouterPort,
} from './router-config';
import {
  parseRouterState,
  stateKey,
  withoutRoute,
  withRoute,
  type HeldRoute,
  type RouterState,
} from './router-state';
import { removeRouterObjects, routerConfigData, routerObjects } from './router-objects';

export interface RouterContext {
  apis: SessionApis;
  dialer: PodDialer;
  clock: Clock;
  pollMs: number;
  startTimeoutMs: number;
  owner: string;
  /** The Service as the plan read it. */
  service: k8s.V1Service;
  /** The Service's own selector (the recorded one when a router holds it now). */
  originalSelector: Record<string, string>;
  /** Every TCP port of the Service, resolved: the router listens on each. */
  allPorts: readonly ExposedPort[];
  header: { name: string; value: string };
}

/** One developer's place on the router. */
export interface Membership {
  session: string;
  pod: string;
  address: string;
  /** Their mapped ports: Service port → the SSH pod's port. */
  ports: Record<string, number>;
}

function target(context: RouterContext): { namespace: string; name: string } {
  return { namespace: context.service.metadata?.namespace ?? '', name: context.service.metadata?.name ?? '' };
}

export class PersonalRouter {
  private readonly names: ReturnType<typeof routerObjects>;
  /** The state as last written by this developer. */
  state: RouterState | undefined;

  constructor(private readonly context: RouterContext) {
    this.names = routerObjects(target(context).name);
  }

  /** The router pod's name, once the router is known ('' before). */
  get podName(): string {
    return this.state?.pod ?? '';
  }

  private get namespace(): string {
    return target(this.context).namespace;
  }

  private get label(): string {
    const { namespace, name } = target(this.context);
    return `${namespace}/${name}`;
  }

  private adminDialer(): AdminDialer {
    return () => this.context.dialer.dial({ namespace: this.namespace, pod: this.podName }, routerAdminPort);
  }

  private async readConfigMap(): Promise<k8s.V1ConfigMap | undefined> {
    try {
      return await this.context.apis.core.readNamespacedConfigMap({
        namespace: this.namespace,
        name: this.names.configMap,
      });
    } catch (error) {
      if (errorStatus(error) === 404) return undefined;
      throw refusal(error, `read configmap ${this.namespace}/${this.names.configMap}`, this.namespace);
    }
  }

  /** Reads the shared state again (who else holds a route), keeping the last one on a failure. */
  async refresh(): Promise<void> {
    const current = await this.readConfigMap().catch(() => undefined);
    const state = parseRouterState(current?.data?.[stateKey]);
    if (state) this.state = state;
  }

  /** Writes `next` over `current` if nobody wrote in between; false when someone did. */
  private async write(current: k8s.V1ConfigMap, next: RouterState): Promise<boolean> {
    try {
      await this.context.apis.core.replaceNamespacedConfigMap({
        namespace: this.namespace,
        name: this.names.configMap,
        body: { metadata: current.metadata, data: routerConfigData(next) },
      });
      this.state = next;
      return true;
    } catch (error) {
      if (errorStatus(error) === 409) return false;
      throw refusal(error, `update configmap ${this.namespace}/${this.names.configMap}`, this.namespace);
    }
  }

  private routeOf(member: Membership): Omit<HeldRoute, 'slot'> {
    return {
      value: this.context.header.value,
      owner: this.context.owner,
      session: member.session,
      pod: member.pod,
      address: member.address,
      ports: member.ports,
    };
  }

  /**
   * Routes requests carrying this developer's header value to their tunnel: through the router
   * already there, or one made now. Resolves once such requests reach the tunnel.
   */
  async join(member: Membership, isStopping: () => boolean): Promise<void> {
    const deadline = this.context.clock.now() + this.context.startTimeoutMs;
    for (;;) {
      if (isStopping()) throw new Error('the expose was stopped');
      const current = await this.readConfigMap();
      if (!current) {
        if (await this.create(member)) return;
      } else {
        const state = parseRouterState(current.data?.[stateKey]);
        if (!state)
          throw new ExposeRefusedError(
            `The router of ${this.label} (configmap ${this.names.configMap}) has no state Localizer can read. Run \`localizer cleanup --force\` to remove it.`,
          );
        if (state.phase === 'ready') {
          const next = withRoute(state, this.routeOf(member), this.context.header.name, this.label);
          if (await this.write(current, next)) {
            const route = next.routes.find((r) => r.session === member.session);
            if (route) await runRouterCommands(this.adminDialer(), joinCommands(route, next.ports));
            return;
          }
          continue;
        }
        // Starting (another developer makes it) or closing (the last one left): wait for it.
        if (this.context.clock.now() > deadline)
          throw new ExposeRefusedError(
            state.phase === 'starting'
              ? `The router of ${this.label}, being made by ${state.createdBy}, did not become ready within ${String(this.context.startTimeoutMs / 1000)} s. If that expose is gone, \`localizer cleanup --force\` removes it.`
              : `The router of ${this.label} was still being removed after ${String(this.context.startTimeoutMs / 1000)} s; try again.`,
          );
      }
      await this.context.clock.sleep(this.context.pollMs);
    }
  }

  /** Makes the router with this developer's route; false when someone else made it first. */
  private async create(member: Membership): Promise<boolean> {
    const { core } = this.context.apis;
    const ports: RouterPort[] = this.context.allPorts.map((port) => ({
      servicePort: port.servicePort,
      listenPort: port.targetPort,
      ...(port.targetPortName ? { name: port.targetPortName } : {}),
      kind: portKind(this.context.service.spec?.ports?.find((p) => p.port === port.servicePort) ?? {}),
    }));
    const session = `router-${randomBytes(6).toString('hex')}`;
    const empty: RouterState = {
      header: this.context.header.name.toLowerCase(),
      session,
      pod: this.names.podName(session),
      phase: 'starting',
      createdBy: this.context.owner,
      originalSelector: this.context.originalSelector,
      originAddress: '',
      ports,
      routes: [],
    };
    // Made with this developer's route in it: a cleanup (anyone's) leaves a router alone while
    // one of its routes has its SSH pod, so it never removes one that is being made.
    const initial = withRoute(empty, this.routeOf(member), empty.header, this.label);
    let configMap: k8s.V1ConfigMap;
    try {
      configMap = await core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: this.names.configMapObject(routerConfigData(initial)),
      });
    } catch (error) {
      if (errorStatus(error) === 409) return false;
      throw refusal(error, `create configmap ${this.namespace}/${this.names.configMap}`, this.namespace);
    }
    this.state = initial;
    const origin = await core
      .createNamespacedService({
        namespace: this.namespace,
        body: this.names.originService(this.context.service, this.context.originalSelector, configMap),
      })
      .catch((error: unknown) => {
        throw refusal(error, `create service ${this.namespace}/${this.names.origin}`, this.namespace);
      });
    const withMe = { ...initial, originAddress: origin.spec?.clusterIP ?? '' };
    // The configuration the pod starts with already routes this developer.
    if (!(await this.write(configMap, withMe)))
      throw new Error(`the router's configmap ${this.names.configMap} changed while it was being made`);
    await core
      .createNamespacedPod({
        namespace: this.namespace,
        body: this.names.routerPod(withMe, configMap),
      })
      .catch((error: unknown) => {
        throw refusal(error, `create pod ${this.namespace}/${this.podName}`, this.namespace);
      });
    await this.waitForPod();
    await this.route(withMe);
    const current = await this.readConfigMap();
    const latest = parseRouterState(current?.data?.[stateKey]);
    if (!current || !latest)
      throw new Error(`the router's configmap ${this.names.configMap} went while it was being made`);
    if (!(await this.write(current, { ...latest, phase: 'ready' })))
      throw new Error(`the router's configmap ${this.names.configMap} changed while it was being made`);
    return true;
  }

  private async waitForPod(): Promise<void> {
    const deadline = this.context.clock.now() + this.context.startTimeoutMs;
    for (;;) {
      const pod = await this.context.apis.core
        .readNamespacedPod({ namespace: this.namespace, name: this.podName })
        .catch(() => undefined);
      if (pod && isPodReady(pod)) return;
      const waiting = pod?.status?.containerStatuses?.[0]?.state?.waiting;
      if (
        waiting?.reason &&
        /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError/.test(waiting.reason)
      )
        throw new Error(
          `The router pod ${this.namespace}/${this.podName} cannot start: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}.`,
        );
      if (this.context.clock.now() > deadline)
        throw new Error(
          `The router pod ${this.namespace}/${this.podName} was not ready within ${String(this.context.startTimeoutMs / 1000)} s; see why with \`kubectl -n ${this.namespace} describe pod ${this.podName}\`.`,
        );
      await this.context.clock.sleep(this.context.pollMs);
    }
  }

  /** Points the Service at the router and waits until its EndpointSlices say so. */
  private async route(state: RouterState): Promise<void> {
    const { core, discovery } = this.context.apis;
    const { namespace, name } = target(this.context);
    let service = this.context.service;
    for (let attempt = 0; ; attempt++) {
      try {
        await takeOver(
          core,
          service,
          { session: state.session, owner: this.context.owner },
          {
            [localizerKeys.router]: this.names.configMap,
          },
        );
        break;
      } catch (error) {
        if (errorStatus(error) !== 409 || attempt >= 5)
          throw refusal(error, `patch service ${this.label}`, namespace);
        service = await core.readNamespacedService({ namespace, name });
      }
    }
    const deadline = this.context.clock.now() + this.context.startTimeoutMs;
    for (;;) {
      const slices = await discovery
        .listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${name}` })
        .catch(() => undefined);
      const ready = (slices?.items ?? [])
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready !== false);
      if (ready.length > 0 && ready.every((e) => e.targetRef?.name === this.podName)) return;
      if (this.context.clock.now() > deadline)
        throw new Error(
          `The cluster did not route ${this.label} to its router within ${String(this.context.startTimeoutMs / 1000)} s.`,
        );
      await this.context.clock.sleep(this.context.pollMs);
    }
  }

  /**
   * Stops routing this developer's requests (they go to the Service's own pods from the next
   * one on). Resolves with whether they were the last, in which case `close` must follow.
   */
  async leave(member: Membership): Promise<{ last: boolean }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.readConfigMap();
      const state = parseRouterState(current?.data?.[stateKey]);
      if (!current || !state) return { last: false };
      const mine = state.routes.find((r) => r.session === member.session);
      if (!mine) return { last: false };
      const next = withoutRoute(state, member.session);
      if (!(await this.write(current, next))) continue;
      // The map first, so no new request is sent to the slot; calls under way finish.
      await runRouterCommands(this.adminDialer(), [
        ...unrouteCommands(mine.value),
        ...releaseCommands(mine.slot, state.ports),
      ]).catch(() => undefined);
      return { last: next.routes.length === 0 };
    }
    throw new Error(`the router of ${this.label} kept changing while this route left it`);
  }

  /** Gives the Service its selector back (the last one out); the outcome as `giveBack` says. */
  giveBackService(): Promise<GiveBackOutcome> {
    const session = this.state?.session;
    if (!session) return Promise.resolve({ outcome: 'untouched' });
    return giveBack(this.context.apis.core, target(this.context), session, this.state?.originalSelector);
  }

  /** Waits (bounded) until the router carries no more calls, then removes it all. */
  async remove(drainTimeoutMs: number): Promise<void> {
    await runRouterCommands(this.adminDialer(), closingCommands()).catch(() => undefined);
    const deadline = this.context.clock.now() + drainTimeoutMs;
    while (this.context.clock.now() < deadline) {
      const open = await routerConnections(this.adminDialer()).catch(() => 0);
      if (open === 0) break;
      await this.context.clock.sleep(this.context.pollMs);
    }
    await removeRouterObjects(this.context.apis.core, this.namespace, this.names, this.state?.pod);
  }
}
