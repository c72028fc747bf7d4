/**
 * What an expose may leave in a namespace: its SSH pods (not counting one already terminating)
 * and Secrets, found by the session label every expose object carries. Tests poll it to zero.
 */
import type * as k8s from '@kubernetes/client-node';
import { expect } from 'vitest';
import { labels } from '../../src/main/engine/expose/ssh-pod';

export async function exposeObjectsLeft(core: k8s.CoreV1Api, namespace: string): Promise<number> {
  const [pods, secrets] = await Promise.all([
    core.listNamespacedPod({ namespace, labelSelector: labels.session }),
    core.listNamespacedSecret({ namespace, labelSelector: labels.session }),
  ]);
  return pods.items.filter((pod) => !pod.metadata?.deletionTimestamp).length + secrets.items.length;
}

/** Polls until no SSH pod or Secret of an expose is left: a deleted pod terminates gracefully first. */
export async function expectNoExposeObjects(core: k8s.CoreV1Api, namespace: string): Promise<void> {
  await expect
    .poll(() => exposeObjectsLeft(core, namespace), {
      timeout: 15_000,
      message: `no SSH pod or Secret should be left in ${namespace}`,
    })
    .toBe(0);
}
