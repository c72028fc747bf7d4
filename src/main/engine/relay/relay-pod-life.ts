/**
 * One relay pod's life in the cluster: wait until its container runs (or cannot start), dial
 * its program through the port-forward (which may need a moment after the container starts),
 * delete it. `relay-keeper.ts` decides when each happens.
 */
import type { Duplex } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../kube/api-errors';
import type { PodDialer } from '../kube/pod-dialer';
import { containerRunning, waitForPod } from '../kube/pod-state';
import type { Clock } from '../timing/clock';
import { relayPort } from './relay-pod';
import { RelayRefusedError, requestRelay, type RelayDestination, type RelayProtocol } from './relay-protocol';

export interface RelayPodAccess {
  core: k8s.CoreV1Api;
  dialer: PodDialer;
  clock: Clock;
  log?: ((message: string) => void) | undefined;
}

export interface RunningRelayPod {
  namespace: string;
  name: string;
  uid: string | undefined;
  startedAt: number;
}

/** The relay pod's container cannot start (an image that cannot be pulled, a crash loop). */
export class RelayPodHopelessError extends Error {
  override name = 'RelayPodHopelessError';
}

/**
 * Resolves once the pod's container runs; throws `RelayPodHopelessError` as soon as it cannot,
 * or an Error at `timeoutMs`, each with what the kubelet last said.
 */
export async function waitUntilRunning(
  access: RelayPodAccess,
  pod: { namespace: string; name: string },
  timeoutMs: number,
  isStopping: () => boolean,
): Promise<void> {
  const end = await waitForPod({
    read: () => access.core.readNamespacedPod(pod),
    until: containerRunning,
    isStopping,
    clock: access.clock,
    timeoutMs,
    pollMs: 250,
  });
  if (end.kind === 'reached') return;
  if (end.kind === 'stopped') throw new Error('connect is stopping');
  if (end.kind === 'hopeless') throw new RelayPodHopelessError(end.said);
  const seen = end.kind === 'timed-out' ? end.lastSeen : 'it was deleted';
  throw new Error(`the relay pod ${pod.namespace}/${pod.name} did not start in time (${seen})`);
}

/** A stream to `destination` through the pod's program; one that just started may refuse a moment. */
export async function dialRelay(
  access: RelayPodAccess,
  pod: RunningRelayPod,
  protocol: RelayProtocol,
  destination: RelayDestination,
): Promise<Duplex> {
  const { clock } = access;
  for (let attempt = 0; ; attempt++) {
    try {
      const stream = await access.dialer.dial(
        { namespace: pod.namespace, pod: pod.name, uid: pod.uid },
        relayPort,
      );
      return await requestRelay(stream, protocol, destination);
    } catch (error) {
      // Only "refused" from a pod that just started passes (its program is not listening yet);
      // a pod that is gone, going or forbidden stays so.
      const starting = clock.now() - pod.startedAt < 15_000 && attempt < 40;
      const refused = error instanceof Error && /refused/i.test(error.message);
      if (!starting || !refused || error instanceof RelayRefusedError || !(await isRunning(access, pod)))
        throw error;
      await clock.sleep(100 + attempt * 25);
    }
  }
}

async function isRunning(access: RelayPodAccess, pod: RunningRelayPod): Promise<boolean> {
  try {
    return containerRunning(
      await access.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name }),
    );
  } catch {
    return false;
  }
}

/** Deletes the pod at once; one already gone is fine, another failure is logged. */
export async function deleteRelayPod(access: RelayPodAccess, namespace: string, name: string): Promise<void> {
  try {
    await access.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  } catch (error) {
    if (errorStatus(error) !== 404)
      access.log?.(`could not delete relay pod ${namespace}/${name}: ${describeError(error)}`);
  }
}
