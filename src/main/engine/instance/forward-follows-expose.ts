/**
 * An expose is announced once this instance's own forward of the Service sends new connections
 * where the cluster now routes them (the SSH pod, or a personal intercept's router). The forward
 * learns of the change from its watch, which lags the API server by a moment: without this wait,
 * a `curl` run right after `localizer expose` returned reached a pod the Service no longer
 * selects (a takeover leaves them running), and an HTTP pod held that call open until its own
 * timeout (88 s in the daemon test).
 */
import type * as k8s from '@kubernetes/client-node';
import { systemClock, type Clock } from '../timing/clock';

export interface ForwardFollowOptions {
  /** The context's connect engine, or what of it is asked. */
  engine: { routedPods(namespace: string, name: string): string[] | undefined };
  /** What of the context's discovery API is asked (its `DiscoveryV1Api`). */
  discovery: {
    listNamespacedEndpointSlice(request: {
      namespace: string;
      labelSelector: string;
    }): Promise<k8s.V1EndpointSliceList>;
  };
  namespace: string;
  service: string;
  clock?: Clock;
  timeoutMs?: number;
  pollMs?: number;
}

/** How long a forward's watch may lag before the expose is announced anyway. */
export const forwardFollowTimeoutMs = 5_000;

/** The ready pods the cluster's EndpointSlices route a Service to now, sorted. */
async function podsTheClusterRoutesTo(options: ForwardFollowOptions): Promise<string[] | undefined> {
  const slices = await options.discovery
    .listNamespacedEndpointSlice({
      namespace: options.namespace,
      labelSelector: `kubernetes.io/service-name=${options.service}`,
    })
    .catch(() => undefined);
  if (!slices) return undefined;
  return slices.items
    .flatMap((slice) => slice.endpoints ?? [])
    .filter((e) => e.targetRef?.kind === 'Pod' && e.conditions?.ready === true)
    .map((e) => e.targetRef?.name ?? '')
    .sort();
}

function samePods(a: readonly string[], b: readonly string[]): boolean {
  const sortedA = [...new Set(a)].sort();
  const sortedB = [...new Set(b)].sort();
  return sortedA.length === sortedB.length && sortedA.every((pod, i) => pod === sortedB[i]);
}

/**
 * Resolves true once the engine's forward routes the Service to exactly the pods its
 * EndpointSlices name now, or at once when the Service is not forwarded; false when the forward
 * has not followed within the timeout (or the slices cannot be read), so the caller can say so.
 */
export async function untilForwardFollows(options: ForwardFollowOptions): Promise<boolean> {
  const clock = options.clock ?? systemClock;
  if (options.engine.routedPods(options.namespace, options.service) === undefined) return true;
  const wanted = await podsTheClusterRoutesTo(options);
  if (!wanted) return false;
  const deadline = clock.now() + (options.timeoutMs ?? forwardFollowTimeoutMs);
  for (;;) {
    const routed = options.engine.routedPods(options.namespace, options.service);
    if (routed === undefined || samePods(routed, wanted)) return true;
    if (clock.now() >= deadline) return false;
    await clock.sleep(options.pollMs ?? 20);
  }
}
