/**
 * Waiting for a router pod to serve: ready, or refused early with the reason a user can act on
 * (an image that cannot be pulled, a configuration HAProxy rejects, with its last log lines).
 */
import type * as k8s from '@kubernetes/client-node';
import type { Clock } from '../../timing/clock';
import { isPodReady } from '../ssh-pod-keeper';

/** States a pod does not leave by waiting. */
const hopeless = /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CrashLoopBackOff/;

export async function waitForRouterPod(
  context: { apis: { core: k8s.CoreV1Api }; clock: Clock; pollMs: number; startTimeoutMs: number },
  namespace: string,
  name: string,
): Promise<void> {
  const { core } = context.apis;
  const deadline = context.clock.now() + context.startTimeoutMs;
  for (;;) {
    const pod = await core.readNamespacedPod({ namespace, name }).catch(() => undefined);
    if (pod && isPodReady(pod)) return;
    const waiting = pod?.status?.containerStatuses?.[0]?.state?.waiting;
    if (waiting?.reason && hopeless.test(waiting.reason)) {
      const crashed = waiting.reason === 'CrashLoopBackOff';
      const said = await core
        .readNamespacedPodLog({ namespace, name, tailLines: 5, previous: crashed })
        .catch(() => '');
      throw new Error(
        `The router pod ${namespace}/${name} cannot start: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}.${said.trim() ? ` Its last words: ${said.trim()}` : ''}`,
      );
    }
    if (context.clock.now() > deadline)
      throw new Error(
        `The router pod ${namespace}/${name} was not ready within ${String(context.startTimeoutMs / 1000)} s; see why with \`kubectl -n ${namespace} describe pod ${name}\`.`,
      );
    await context.clock.sleep(context.pollMs);
  }
}
