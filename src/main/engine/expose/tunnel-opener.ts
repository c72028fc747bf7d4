/**
 * The way into an SSH pod: wait for it to run, dial its sshd through a port-forward and open the
 * reverse tunnel, trying again while sshd comes up (bounded), and saying why the pod cannot be
 * reached when it does not.
 */
import type { PodDialer } from '../kube/pod-dialer';
import type { Clock } from '../timing/clock';
import type { ExposedPort } from './port-map';
import { HostKeyMismatchError, ReverseTunnel, type TunnelCounters } from './reverse-tunnel';
import { sshPort, type SshKeys } from './ssh-pod';
import type { SshImage } from './ssh-image';
import type { SshPodKeeper } from './ssh-pod-keeper';

export interface TunnelOpening {
  pod: SshPodKeeper;
  namespace: string;
  dialer: PodDialer;
  clock: Clock;
  image: SshImage;
  keys: SshKeys;
  ports: ExposedPort[];
  /** The expose's counters, which the tunnel adds to. */
  counters: TunnelCounters;
  keepaliveIntervalMs: number | undefined;
  /** How long the pod may take to run; sshd gets at most 30 s of it to answer. */
  startTimeoutMs: number;
  pollMs: number;
  isStopping: () => boolean;
  /** The pod runs at `podAddress`, where its tunnel will listen: told before sshd is dialled. */
  onRunning: (podAddress: string | null) => void;
}

/** The open tunnel into the SSH pod. */
export async function openTunnelToPod(opening: TunnelOpening): Promise<ReverseTunnel> {
  const { pod, clock } = opening;
  const running = await pod.waitFor(
    (p) => p.status?.phase === 'Running' && Boolean(p.status.podIP),
    'start running',
    opening.startTimeoutMs,
  );
  const podAddress = running.status?.podIP ?? null;
  opening.onRunning(podAddress);
  // sshd may need a moment after the container starts, but not more than this.
  const answerMs = Math.min(30_000, opening.startTimeoutMs);
  const deadline = clock.now() + answerMs;
  for (;;) {
    try {
      const stream = await opening.dialer.dial(
        { namespace: opening.namespace, pod: pod.podName ?? '', uid: running.metadata?.uid },
        sshPort,
      );
      return await ReverseTunnel.open({
        stream,
        user: opening.image.user,
        clientPrivateKey: opening.keys.clientPrivateKey,
        hostPublicKey: opening.keys.hostPublicKey,
        listenAddress: podAddress ?? '',
        ports: opening.ports,
        counters: opening.counters,
        ...(opening.keepaliveIntervalMs ? { keepaliveIntervalMs: opening.keepaliveIntervalMs } : {}),
      });
    } catch (error) {
      if (error instanceof HostKeyMismatchError || opening.isStopping()) throw error;
      if (clock.now() > deadline) {
        const said = error instanceof Error ? error.message : String(error);
        throw await pod.problem(
          `sshd in the SSH pod ${pod.podName ?? ''} did not answer on port ${String(sshPort)} within ${String(answerMs / 1000)} s (${said}).`,
        );
      }
      await clock.sleep(opening.pollMs);
    }
  }
}
