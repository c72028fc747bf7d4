/**
 * Waiting for a router pod to serve: ready, or refused early with the reason a user can act on
 * (an image that cannot be pulled, a configuration HAProxy rejects, with its last log lines).
 */
import type * as k8s from '@kubernetes/client-node';
import { containerWaiting, isPodReady } from '../../kube/pod-state';
import type { Clock } from '../../timing/clock';
import { routerImage } from './router-objects';

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
    const waiting = pod ? containerWaiting(pod) : undefined;
    if (waiting?.hopeless) {
      const crashed = waiting.said.startsWith('CrashLoopBackOff');
      const said = await core
        .readNamespacedPodLog({ namespace, name, tailLines: 5, previous: crashed })
        .catch(() => '');
      const pull = /ImagePull|InvalidImageName/.test(waiting.said)
        ? ` If the cluster pulls only from its own registry, mirror ${routerImage.image} there and set LOCALIZER_ROUTER_IMAGE to it.`
        : '';
      throw new Error(
        `The router pod ${namespace}/${name} cannot start (${waiting.said}).${said.trim() ? ` Its last words: ${said.trim()}` : ''}${pull}`,
      );
    }
    if (context.clock.now() > deadline)
      throw new Error(
        `The router pod ${namespace}/${name} was not ready within ${String(context.startTimeoutMs / 1000)} s; see why with \`kubectl -n ${namespace} describe pod ${name}\`.`,
      );
    await context.clock.sleep(context.pollMs);
  }
}
