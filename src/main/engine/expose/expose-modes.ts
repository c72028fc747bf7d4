/**
 * How an expose takes its Service once the SSH pod is ready, and gives it back: the two modes
 * behind one shape, so the start steps and the no-gap stop (`expose-stop.ts`) stay the same.
 *
 * - **takeover** (the default): the Service's selector is pointed at the SSH pod; every
 *   workload keeps running, untouched. Given back by restoring the selector.
 * - **scale-down**: the SSH pod carries the Service's selector and the workloads are scaled to
 *   zero (their replicas recorded on them). Given back by restoring the replicas.
 */
import type * as k8s from '@kubernetes/client-node';
import type { ExposeMode } from '../../../shared/tunnel-status';
import { errorStatus } from '../kube/api-errors';
import { localizerKeys } from '../kube/localizer-keys';
import type { PodDialer } from '../kube/pod-dialer';
import type { Clock } from '../timing/clock';
import { PersonalRouter } from './router/personal-router';
import { refusal, type ExposePlan, type SessionApis } from './expose-preflight';
import { describeSelector, giveBack, isHeldBy, lastSpecChange, takeOver } from './service-takeover';
import { readiness, restore, scaleDown } from './workload-scaler';
import { ExposeRefusedError } from './expose-refused-error';

export interface ModeContext {
  apis: SessionApis;
  session: string;
  owner: string;
  plan: ExposePlan;
  clock: Clock;
  pollMs: number;
  /** The SSH pod's current name. */
  podName: () => string | null;
  /** The SSH pod's current address, where its tunnel listens. */
  podAddress: () => string | null;
  dialer: PodDialer;
  /** A personal intercept's header and value. */
  header?: { name: string; value: string };
  /** How long a stop lets calls through the router finish. */
  drainTimeoutMs: number;
  startTimeoutMs: number;
  isStopping: () => boolean;
}

export interface ModeActions {
  /** What the status says while `route` runs. */
  routing: string;
  /** What the status says while `giveBack` runs. */
  givingBack: string;
  /** Makes the Service reach the SSH pod; the SSH pod is ready (its tunnel is up). */
  route(): Promise<void>;
  /** Undoes `route`; resolves with a notice when what it gives back is no longer as left. */
  giveBack(): Promise<string | null>;
  /** The Service's own pods, ready of wanted, after `giveBack`; undefined when unreadable. */
  readiness(): Promise<{ what: string; ready: number; wanted: number }[] | undefined>;
  /**
   * A takeover that someone else undid (a GitOps self-heal, `kubectl apply`): says who changed
   * what, or null while the Service is still held. Scale-down: always null.
   */
  drift(): Promise<string | null>;
  /** The SSH pod was made again under a new address: routes that name it follow (personal). */
  moved?(): Promise<void>;
  /** A personal intercept's companions on its router, as last read. */
  sharedWith?(): string[];
}

function serviceName(plan: ExposePlan): { namespace: string; name: string } {
  return { namespace: plan.service.metadata?.namespace ?? '', name: plan.service.metadata?.name ?? '' };
}

/** Endpoints of the Service that are ready, by whether they are the SSH pod. */
async function readyEndpoints(
  context: ModeContext,
  /** The pod counted apart: the SSH pod, or a personal intercept's router. */
  ours: string | null = context.podName(),
): Promise<{ ssh: number; others: number } | undefined> {
  const { namespace, name } = serviceName(context.plan);
  const slices = await context.apis.discovery
    .listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${name}` })
    .catch(() => undefined);
  if (!slices) return undefined;
  const endpoints = slices.items.flatMap((slice: k8s.V1EndpointSlice) => slice.endpoints ?? []);
  const ready = endpoints.filter((e) => e.conditions?.ready !== false);
  const ssh = ready.filter((e) => e.targetRef?.name === ours).length;
  return { ssh, others: ready.length - ssh };
}

/** Someone else's selector, as it will be once the key of `session` (ours) is gone. */
function theirSelector(service: k8s.V1Service, session: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.spec?.selector ?? {}).filter(
      ([key, value]) => key !== localizerKeys.intercept || value !== session,
    ),
  );
}

function takeoverMode(context: ModeContext): ModeActions {
  const target = serviceName(context.plan);
  const label = `${target.namespace}/${target.name}`;
  let engaged = false;
  /** How many of the Service's own pods were ready when it was taken: what the stop waits for. */
  let readyBefore = 0;
  /** Whether the stop gave the selector back: only then are the service's own pods waited for. */
  let restored = false;
  return {
    routing: `pointing ${label} at the SSH pod (its pods keep running)`,
    givingBack: `giving ${label} its own selector back`,
    async route() {
      readyBefore = (await readyEndpoints(context))?.others ?? 0;
      let service = context.plan.service;
      // Engaged before the patch: one whose answer is lost may still have landed, and giving
      // back what never landed changes nothing.
      engaged = true;
      for (let attempt = 0; ; attempt++) {
        try {
          await takeOver(context.apis.core, service, { session: context.session, owner: context.owner });
          break;
        } catch (error) {
          if (errorStatus(error) !== 409 || attempt >= 5)
            throw refusal(error, `patch service ${label}`, target.namespace);
          // Written in between: take it only if its selector is still what was planned for.
          service = await context.apis.core.readNamespacedService(target);
          if (
            describeSelector(service.spec?.selector) !== describeSelector(context.plan.service.spec?.selector)
          )
            throw new ExposeRefusedError(
              `The selector of ${label} changed while the expose started (now ${describeSelector(service.spec?.selector)}${lastSpecChange(service)}); nothing was changed. Expose again to take it as it is now.`,
            );
        }
      }
      // Routed once the EndpointSlices name the SSH pod, ready, and nothing else.
      const deadline = context.clock.now() + context.startTimeoutMs;
      for (;;) {
        if (context.isStopping()) throw new Error('the expose was stopped');
        const seen = await readyEndpoints(context);
        if (seen && seen.ssh > 0 && seen.others === 0) return;
        if (context.clock.now() > deadline)
          throw new Error(
            `The cluster did not route ${label} to the SSH pod within ${String(context.startTimeoutMs / 1000)} s of its selector change.`,
          );
        await context.clock.sleep(context.pollMs);
      }
    },
    async giveBack() {
      if (!engaged) return null;
      const given = await giveBack(
        context.apis.core,
        target,
        context.session,
        context.plan.service.spec?.selector,
      );
      engaged = false;
      restored = given.outcome === 'restored';
      if (given.outcome === 'changed')
        return `the selector of ${label} had been changed by someone else (now ${describeSelector(given.service.spec?.selector)}${lastSpecChange(given.service)}), and was left as they made it`;
      return null;
    },
    async readiness() {
      // Deleted, or pointed elsewhere by someone else: nothing of ours to wait for.
      if (!restored) return undefined;
      const seen = await readyEndpoints(context);
      return seen
        ? [{ what: `the pods of ${label}`, ready: Math.min(seen.others, readyBefore), wanted: readyBefore }]
        : undefined;
    },
    async drift() {
      if (!engaged) return null;
      let service: k8s.V1Service;
      try {
        service = await context.apis.core.readNamespacedService(target);
      } catch (error) {
        if (errorStatus(error) === 404) return `${label} was deleted`;
        return null; // Unreadable for now (a network blip): not evidence of a change.
      }
      if (isHeldBy(service, context.session)) return null;
      return `the selector of ${label} was changed while this expose held it (now ${describeSelector(theirSelector(service, context.session))}${lastSpecChange(service)})`;
    },
  };
}

function scaleDownMode(context: ModeContext): ModeActions {
  const { workloads } = context.plan;
  const described =
    workloads.length === 0
      ? 'no workloads (none serve the service)'
      : workloads.map((w) => `${w.kind} ${w.namespace}/${w.name}`).join(', ');
  return {
    routing: `scaling down ${described}`,
    givingBack: `restoring ${described}`,
    async route() {
      await scaleDown(context.apis.apps, workloads, { owner: context.owner, session: context.session }).catch(
        (error: unknown) => {
          throw refusal(error, `scale ${described}`, serviceName(context.plan).namespace);
        },
      );
    },
    async giveBack() {
      await restore(context.apis.apps, workloads, context.session);
      return null;
    },
    async readiness() {
      const counts = await readiness(context.apis.apps, workloads).catch(() => undefined);
      return counts?.map((c) => ({
        what: `${c.workload.kind} ${c.workload.namespace}/${c.workload.name}`,
        ready: c.ready,
        wanted: c.wanted,
      }));
    },
    drift: () => Promise.resolve(null),
  };
}

/**
 * A personal intercept: requests with the developer's header value reach the laptop through the
 * Service's router (made by the first developer, shared by the rest), every other request the
 * Service's own pods. The last one to leave gives the Service back.
 */
function personalMode(context: ModeContext): ModeActions {
  const target = serviceName(context.plan);
  const label = `${target.namespace}/${target.name}`;
  const header = context.header;
  if (!header) throw new Error('a personal intercept needs a header');
  const router = new PersonalRouter({
    apis: context.apis,
    dialer: context.dialer,
    clock: context.clock,
    pollMs: context.pollMs,
    startTimeoutMs: context.startTimeoutMs,
    owner: context.owner,
    service: context.plan.service,
    originalSelector: context.plan.originalSelector ?? context.plan.service.spec?.selector ?? {},
    allPorts: context.plan.allPorts ?? context.plan.ports,
    header,
  });
  const member = () => ({
    session: context.session,
    pod: context.podName() ?? '',
    address: context.podAddress() ?? '',
    ports: Object.fromEntries(context.plan.ports.map((p) => [String(p.servicePort), p.targetPort])),
  });
  let joined = false;
  /** Waits (bounded) until the Service's EndpointSlices list its own pods and not the router. */
  const ownPodsServe = async (): Promise<void> => {
    const deadline = context.clock.now() + context.startTimeoutMs;
    while (context.clock.now() < deadline) {
      const seen = await readyEndpoints(context, router.podName);
      if (seen && seen.ssh === 0 && seen.others > 0) return;
      await context.clock.sleep(context.pollMs);
    }
  };
  return {
    routing: `routing ${header.name}=${header.value} on ${label} to this machine (every other request keeps going to its pods)`,
    givingBack: `taking ${header.name}=${header.value} off the router of ${label}`,
    async route() {
      joined = true;
      await router.join(member(), context.isStopping);
    },
    async giveBack() {
      if (!joined) return null;
      joined = false;
      const { last } = await router.leave(member());
      if (!last) return null;
      // The last one out: the Service's own pods serve again before the router goes.
      const given = await router.giveBackService();
      if (given.outcome === 'restored') await ownPodsServe();
      await router.remove(context.drainTimeoutMs);
      if (given.outcome === 'changed')
        return `the selector of ${label} had been changed by someone else (now ${describeSelector(given.service.spec?.selector)}${lastSpecChange(given.service)}), and was left as they made it`;
      return null;
    },
    // Waited for in `giveBack`, before the router went.
    readiness: () => Promise.resolve(undefined),
    async moved() {
      if (joined) await router.join(member(), context.isStopping);
    },
    sharedWith() {
      return (router.state?.routes ?? [])
        .filter((r) => r.session !== context.session)
        .map((r) => `${r.owner} (${router.state?.header ?? ''}=${r.value})`);
    },
    async drift() {
      if (!joined || !router.state) return null;
      // Keeps the shared router serving (a router pod gone, routes changed by someone else); a
      // failure here is tried again at the next check.
      await router.keepUp().catch(() => null);
      let service: k8s.V1Service;
      try {
        service = await context.apis.core.readNamespacedService(target);
      } catch (error) {
        if (errorStatus(error) === 404) return `${label} was deleted`;
        return null;
      }
      const session = router.state.session;
      if (isHeldBy(service, session)) return null;
      return `the selector of ${label} was changed while its router held it (now ${describeSelector(theirSelector(service, session))}${lastSpecChange(service)})`;
    },
  };
}

export function modeActions(mode: ExposeMode, context: ModeContext): ModeActions {
  if (mode === 'personal') return personalMode(context);
  return mode === 'takeover' ? takeoverMode(context) : scaleDownMode(context);
}
