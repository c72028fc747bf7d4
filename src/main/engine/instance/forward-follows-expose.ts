/**
 * An expose is announced once this instance's own forward of the Service sends new connections
 * where the cluster now routes them (the SSH pod, or a personal intercept's router). The forward
 * learns of the change from its watch, which lags the API server by a moment: without this wait,
 * a `curl` run right after `localizer expose` returned reached a pod the Service no longer
 * selects (a takeover leaves them running), and an HTTP pod held that call open until its own
 * timeout (88 s in the daemon test).
 */
import type * as k8s from '@kubernetes/client-node';
import { readyPodsOf } from '../connect/forward-plan';
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

/** How the wait ended: the forward follows, it is still behind, or the slices could not be read. */
export type ForwardFollowOutcome = 'followed' | 'behind' | 'unread';

function samePods(a: readonly string[], b: readonly string[]): boolean {
  const wanted = new Set(b);
  const routed = new Set(a);
  return routed.size === wanted.size && [...routed].every((pod) => wanted.has(pod));
}

/**
 * Ends once the engine's forward routes the Service to exactly the pods its EndpointSlices name
 * now (read once, as the forward reads them), or at once when the Service is not forwarded here;
 * `behind` when the forward has not followed within the timeout, `unread` when the slices could
 * not be read (nothing is waited for then).
 */
export async function untilForwardFollows(options: ForwardFollowOptions): Promise<ForwardFollowOutcome> {
  const clock = options.clock ?? systemClock;
  const { namespace, service } = options;
  if (options.engine.routedPods(namespace, service) === undefined) return 'followed';
  const slices = await options.discovery
    .listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` })
    .catch(() => undefined);
  if (!slices) return 'unread';
  const wanted = readyPodsOf(slices.items);
  const deadline = clock.now() + (options.timeoutMs ?? forwardFollowTimeoutMs);
  for (;;) {
    const routed = options.engine.routedPods(namespace, service);
    if (routed === undefined || samePods(routed, wanted)) return 'followed';
    if (clock.now() >= deadline) return 'behind';
    await clock.sleep(options.pollMs ?? 20);
  }
}
