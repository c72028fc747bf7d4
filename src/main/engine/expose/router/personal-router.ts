/**
 * The router of a Service's personal intercepts, in the cluster: its ConfigMap (the shared state
 * and HAProxy's configuration), an origin Service that selects the Service's own pods, and the
 * router pod, which the Service selects while any developer holds a route. The first developer
 * makes it and takes the Service (one resourceVersion-guarded selector patch, as a takeover);
 * the others join it through HAProxy's runtime API, so it is never restarted; the last to leave
 * gives the Service its selector back and removes it all.
 *
 * Every change goes the same way: write the state (guarded), then make the running router hold
 * exactly that state (`sync`), and read it again until what was applied is what is stored. Each
 * developer's Localizer also checks every few seconds (`keepUp`) and applies a state someone
 * else changed (a cleanup, a failed apply) and makes the router pod again if it is gone.
 */
import type * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { errorStatus } from '../../kube/api-errors';
import { localizerKeys } from '../../kube/localizer-keys';
import type { PodDialer } from '../../kube/pod-dialer';
import type { Clock } from '../../timing/clock';
import { refusal, type SessionApis } from '../expose-preflight';
import type { ExposedPort } from '../port-map';
import { giveBack, takeOver, type GiveBackOutcome } from '../service-takeover';
import { ExposeRefusedError } from '../expose-refused-error';
import { applyRoutes, routerConnections, runRouterCommands, type AdminDialer } from './router-admin';
import { closingCommands, portKind, routerAdminPort, type RouterPort } from './router-config';
import { removeRouterObjects, routerObjects, type RouterObjects } from './router-objects';
import { waitForRouterPod } from './router-pod';
import { routerSlots, withoutRoute, withRoute, type HeldRoute, type RouterState } from './router-state';
import { RouterStore, type StoredState } from './router-store';

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
  private readonly names: RouterObjects;
  private readonly store: RouterStore;
  /** The state as last read or written by this developer. */
  state: RouterState | undefined;
  /** The ConfigMap's UID: what is removed is this router's, never a newer one of the same name. */
  private configMapUid: string | undefined;
  /** The resourceVersion whose state the running router was last made to hold. */
  private appliedVersion: string | undefined;

  constructor(private readonly context: RouterContext) {
    this.names = routerObjects(target(context).name);
    this.store = new RouterStore(context.apis.core, target(context).namespace, this.names);
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

  private async read(): Promise<StoredState | undefined> {
    const stored = await this.store.read();
    if (stored?.state) {
      this.state = stored.state;
      this.configMapUid = stored.configMap.metadata?.uid;
    }
    return stored;
  }

  private async write(current: k8s.V1ConfigMap, next: RouterState): Promise<boolean> {
    if (!(await this.store.write(current, next))) return false;
    this.state = next;
    return true;
  }

  /**
   * Makes the running router hold the stored routes, reading them again after each apply until
   * they did not change meanwhile (another developer's apply of an older state may have landed
   * after theirs of a newer one).
   */
  private async sync(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await this.read();
      if (!before?.state) return;
      await applyRoutes(this.adminDialer(), before.state.routes, before.state.ports, routerSlots);
      const after = await this.store.read();
      const version = before.configMap.metadata?.resourceVersion;
      if (after?.configMap.metadata?.resourceVersion === version) {
        this.appliedVersion = version;
        return;
      }
    }
    throw new Error(`the routes of ${this.label} kept changing while they were applied`);
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
   * already there, or one made now. Resolves once such requests reach the tunnel. Joining again
   * (a new SSH pod) keeps the developer's slot and moves it to the new address.
   */
  async join(member: Membership, isStopping: () => boolean): Promise<void> {
    const deadline = this.context.clock.now() + this.context.startTimeoutMs;
    for (;;) {
      if (isStopping()) throw new Error('the expose was stopped');
      const stored = await this.read();
      if (!stored) {
        if (await this.create(member)) return;
        continue;
      }
      const { configMap, state } = stored;
      if (!state)
        throw new ExposeRefusedError(
          `The router of ${this.label} (configmap ${this.names.configMap}) holds nothing Localizer can read. \`localizer cleanup --force\` removes it (and gives ${this.label} its selector back).`,
        );
      if (state.phase === 'ready') {
        const next = withRoute(state, this.routeOf(member), this.context.header.name, this.label);
        if (await this.write(configMap, next)) {
          await this.sync();
          return;
        }
        continue;
      }
      // Starting (another developer makes it) or closing (the last one left): wait for it.
      if (this.context.clock.now() > deadline)
        throw new ExposeRefusedError(
          state.phase === 'starting'
            ? `The router of ${this.label}, being made by ${state.createdBy}, did not become ready within ${String(this.context.startTimeoutMs / 1000)} s. If that expose is gone, \`localizer cleanup --force\` removes the router.`
            : `The router of ${this.label} was still being removed after ${String(this.context.startTimeoutMs / 1000)} s. If the Localizer removing it is gone, \`localizer cleanup --force\` finishes it; then expose again.`,
        );
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
      pod: this.names.podName(),
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
    const configMap = await this.store.create(initial);
    if (!configMap) return false;
    this.state = initial;
    this.configMapUid = configMap.metadata?.uid;
    const origin = await core
      .createNamespacedService({
        namespace: this.namespace,
        body: this.names.originService(this.context.service, this.context.originalSelector, configMap),
      })
      .catch((error: unknown) => {
        throw refusal(error, `create service ${this.namespace}/${this.names.origin}`, this.namespace);
      });
    const withOrigin = { ...initial, originAddress: origin.spec?.clusterIP ?? '' };
    // The configuration the pod starts with already routes this developer.
    if (!(await this.write(configMap, withOrigin)))
      throw new Error(`the router's configmap ${this.names.configMap} changed while it was being made`);
    await this.startPod(withOrigin, configMap);
    await this.route(withOrigin);
    const current = await this.read();
    if (!current?.state)
      throw new Error(`the router's configmap ${this.names.configMap} went while it was being made`);
    if (!(await this.write(current.configMap, { ...current.state, phase: 'ready' })))
      throw new Error(`the router's configmap ${this.names.configMap} changed while it was being made`);
    return true;
  }

  private async startPod(state: RouterState, configMap: k8s.V1ConfigMap): Promise<void> {
    await this.context.apis.core
      .createNamespacedPod({ namespace: this.namespace, body: this.names.routerPod(state, configMap) })
      .catch((error: unknown) => {
        throw refusal(error, `create pod ${this.namespace}/${state.pod}`, this.namespace);
      });
    await waitForRouterPod(this.context, this.namespace, state.pod);
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
          { [localizerKeys.router]: this.names.configMap },
          // The Service's own selector, also when an earlier router's selector is still on it.
          state.originalSelector,
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
   * Keeps the router serving while this developer holds a route: applies routes someone else
   * changed, and makes the router pod again (under a new name; the old one may still be
   * terminating) when it is gone. Says what it did, or null.
   */
  async keepUp(): Promise<string | null> {
    const stored = await this.read().catch(() => undefined);
    const state = stored?.state;
    if (!stored || !state || state.phase !== 'ready') return null;
    const pod = await this.context.apis.core
      .readNamespacedPod({ namespace: this.namespace, name: state.pod })
      .catch(() => undefined);
    if (pod && !pod.metadata?.deletionTimestamp) {
      if (stored.configMap.metadata?.resourceVersion !== this.appliedVersion) await this.sync();
      return null;
    }
    const next = { ...state, pod: this.names.podName() };
    // Guarded: of several developers who notice, one makes the pod.
    if (!(await this.write(stored.configMap, next))) return null;
    await this.startPod(next, stored.configMap);
    this.appliedVersion = undefined;
    return `the router pod of ${this.label} was gone; a new one, ${next.pod}, took its place`;
  }

  /**
   * Stops routing this developer's requests (they go to the Service's own pods from the next
   * one on; calls under way finish). Resolves with whether they were the last, in which case
   * the Service is given back and the router removed.
   */
  async leave(member: Membership): Promise<{ last: boolean }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const stored = await this.read();
      if (!stored?.state?.routes.some((r) => r.session === member.session)) return { last: false };
      const next = withoutRoute(stored.state, member.session);
      if (!(await this.write(stored.configMap, next))) continue;
      // A router that cannot be told now is told by the others' next check.
      await this.sync().catch(() => undefined);
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

  /**
   * Makes every HTTP/1.1 answer close its connection, waits (bounded) until the router carries
   * no more calls, then removes it all.
   */
  async remove(drainTimeoutMs: number): Promise<void> {
    await runRouterCommands(this.adminDialer(), closingCommands()).catch(() => undefined);
    const deadline = this.context.clock.now() + drainTimeoutMs;
    while (this.context.clock.now() < deadline) {
      const open = await routerConnections(this.adminDialer()).catch(() => 0);
      if (open === 0) break;
      await this.context.clock.sleep(this.context.pollMs);
    }
    await removeRouterObjects(this.context.apis.core, this.namespace, this.names, {
      pod: this.state?.pod,
      configMapUid: this.configMapUid,
    });
  }
}
