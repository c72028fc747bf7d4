/**
 * What a pod's first container is doing, as the keepers of Localizer's own pods (SSH pods,
 * relay pods) read it while they wait for one to start.
 */
import type * as k8s from '@kubernetes/client-node';

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
