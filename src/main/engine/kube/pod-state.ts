/**
 * What a pod's first container is doing, as the keepers of Localizer's own pods (SSH pods,
 * relay pods) read it while they wait for one to start, and the one wait they both use.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Clock } from '../timing/clock';

/** Waiting reasons that will not fix themselves; the pod's own message says more. */
const hopelessReasons =
  /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError|CrashLoopBackOff/;

export interface ContainerWaiting {
  /** `ErrImagePull: failed to pull…`, as a user reads it. */
  said: string;
  /** Whether it will not pass by itself (a bad image, a config error, a crash loop). */
  hopeless: boolean;
}

/** Why the pod's first container waits, or undefined when it does not (or says nothing). */
export function containerWaiting(pod: k8s.V1Pod): ContainerWaiting | undefined {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (!waiting?.reason) return undefined;
  return {
    said: `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
    hopeless: hopelessReasons.test(waiting.reason),
  };
}

/** Whether the pod is Ready (its readiness probe passes): what a Service routes to. */
export function isPodReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Whether the pod's first container runs, and the pod is not being deleted. */
export function containerRunning(pod: k8s.V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.containerStatuses?.[0]?.state?.running !== undefined;
}

/** How a wait for one of Localizer's own pods ended; each keeper words it for its own user. */
export type PodWaitEnd =
  | { kind: 'reached'; pod: k8s.V1Pod }
  | { kind: 'gone' }
  | { kind: 'hopeless'; said: string }
  | { kind: 'stopped' }
  | { kind: 'timed-out'; lastSeen: string };

/**
 * Polls the pod until `until` holds, ending early when it is gone (`read` gives undefined), when
 * its container waits for a reason that will not pass, or when its owner is stopping.
 */
export async function waitForPod(wait: {
  read: () => Promise<k8s.V1Pod | undefined>;
  until: (pod: k8s.V1Pod) => boolean;
  isStopping: () => boolean;
  clock: Clock;
  timeoutMs: number;
  pollMs: number;
}): Promise<PodWaitEnd> {
  const { clock } = wait;
  const deadline = clock.now() + wait.timeoutMs;
  let lastSeen = 'it was never scheduled';
  while (clock.now() < deadline) {
    if (wait.isStopping()) return { kind: 'stopped' };
    const pod = await wait.read();
    if (!pod) return { kind: 'gone' };
    if (wait.until(pod)) return { kind: 'reached', pod };
    const waiting = containerWaiting(pod);
    if (waiting) {
      lastSeen = waiting.said;
      if (waiting.hopeless) return { kind: 'hopeless', said: lastSeen };
    }
    await clock.sleep(wait.pollMs);
  }
  return { kind: 'timed-out', lastSeen };
}
