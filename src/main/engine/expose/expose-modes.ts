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
import type { Clock } from '../timing/clock';
import { refusal, type ExposePlan, type SessionApis } from './expose-preflight';
import { describeSelector, giveBack, isHeldBy, lastSpecChange, takeOver } from './service-takeover';
import { ExposeRefusedError, readiness, restore, scaleDown } from './workload-scaler';

export interface ModeContext {
  apis: SessionApis;
  session: string;
  owner: string;
  plan: ExposePlan;
  clock: Clock;
  pollMs: number;
  /** The SSH pod's current name. */
  podName: () => string | null;
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
}

function serviceName(plan: ExposePlan): { namespace: string; name: string } {
  return { namespace: plan.service.metadata?.namespace ?? '', name: plan.service.metadata?.name ?? '' };
}

/** Endpoints of the Service that are ready, by whether they are the SSH pod. */
async function readyEndpoints(context: ModeContext): Promise<{ ssh: number; others: number } | undefined> {
  const { namespace, name } = serviceName(context.plan);
  const slices = await context.apis.discovery
    .listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${name}` })
    .catch(() => undefined);
  if (!slices) return undefined;
  const endpoints = slices.items.flatMap((slice: k8s.V1EndpointSlice) => slice.endpoints ?? []);
  const ready = endpoints.filter((e) => e.conditions?.ready !== false);
  const ssh = ready.filter((e) => e.targetRef?.name === context.podName()).length;
  return { ssh, others: ready.length - ssh };
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
      // Their selector, as it will be once this expose's own key is gone.
      const theirs = Object.fromEntries(
        Object.entries(service.spec?.selector ?? {}).filter(
          ([key, value]) => key !== localizerKeys.intercept || value !== context.session,
        ),
      );
      return `the selector of ${label} was changed while this expose held it (now ${describeSelector(theirs)}${lastSpecChange(service)})`;
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

export function modeActions(mode: ExposeMode, context: ModeContext): ModeActions {
  return mode === 'takeover' ? takeoverMode(context) : scaleDownMode(context);
}
