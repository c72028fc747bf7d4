/**
 * The no-gap stop of an expose, as an ordered list of steps: put the workloads back, keep the
 * tunnel serving until their pods are ready, take the SSH pod out of the service and let the
 * calls in it finish, and only then close the tunnel and delete what the expose made. Each wait
 * is bounded, so a workload that cannot start never holds a stop (or Quit) forever.
 */
import type { Clock } from '../timing/clock';

/** What a stop acts on: the cluster side of one expose. */
export interface StoppableExpose {
  /**
   * Gives the Service back to its own pods (the original selector, or the original replicas);
   * resolves with a notice when it could not be given back as it was left.
   */
  restoreWorkloads(): Promise<string | null>;
  /** Each restored workload's pods, ready of wanted; undefined when unreadable (RBAC, no cluster). */
  restoredReadiness(): Promise<{ what: string; ready: number; wanted: number }[] | undefined>;
  /** Whether the tunnel serves now (else there is nothing to keep up or drain). */
  tunnelOpen(): boolean;
  /** Whether the Service was taken (else there is nothing to wait for). */
  scaledDown(): boolean;
  /** Removes the SSH pod from the service's endpoints; false when that cannot be done. */
  leaveService(): Promise<boolean>;
  /** Whether the service still routes to the SSH pod. */
  stillRouted(): Promise<boolean>;
  /** Calls in the tunnel now. */
  activeConnections(): number;
  closeTunnel(): void;
  /** Deletes the SSH pods and the Secret. */
  deleteObjects(): Promise<void>;
  /** Removes the local record, the last trace of the expose. */
  forget(): void;
  /** What the expose is doing now, for its status. */
  say(message: string): void;
}

export interface StopTiming {
  clock: Clock;
  /** How long to wait for the restored workloads' pods. */
  restoreTimeoutMs: number;
  /** How long the calls in the tunnel may take to finish. */
  drainTimeoutMs: number;
  /** How long the tunnel must have been empty before it closes (500 ms). */
  quietMs?: number;
  pollMs: number;
}

interface StopStep {
  name: string;
  /** Resolves with a notice (a string) when the stop goes on despite something. */
  run(expose: StoppableExpose, timing: StopTiming): Promise<unknown>;
}

/** Polls `condition` until it holds or `deadline` passes; resolves whether it held. */
async function waitUntil(
  condition: () => Promise<boolean>,
  deadline: number,
  timing: StopTiming,
): Promise<boolean> {
  for (;;) {
    if (await condition()) return true;
    if (timing.clock.now() >= deadline) return false;
    await timing.clock.sleep(timing.pollMs);
  }
}

export const stopSteps: readonly StopStep[] = [
  { name: 'restore the workloads', run: (expose) => expose.restoreWorkloads() },
  {
    name: 'wait for the restored pods',
    async run(expose, timing) {
      if (!expose.scaledDown() || !expose.tunnelOpen()) return null;
      const deadline = timing.clock.now() + timing.restoreTimeoutMs;
      let waiting: string[] = [];
      const ready = await waitUntil(
        async () => {
          const counts = await expose.restoredReadiness();
          // Unreadable: nothing to wait for that we could see.
          if (!counts) return true;
          waiting = counts
            .filter((c) => c.ready < c.wanted)
            .map((c) => `${c.what} (${String(c.ready)} of ${String(c.wanted)} pods ready)`);
          if (waiting.length > 0) expose.say(`waiting for ${waiting.join(', ')}`);
          return waiting.length === 0;
        },
        deadline,
        timing,
      );
      if (ready) return null;
      return `after ${String(Math.round(timing.restoreTimeoutMs / 1000))} s the restored workloads are still not ready: ${waiting.join(', ')}`;
    },
  },
  {
    name: 'let the calls in the tunnel finish',
    async run(expose, timing) {
      if (!expose.tunnelOpen() || !(await expose.leaveService())) return;
      expose.say('letting the calls in the tunnel finish before it closes');
      const deadline = timing.clock.now() + timing.drainTimeoutMs;
      await waitUntil(async () => !(await expose.stillRouted()), deadline, timing);
      // A call the pod took just before it left the endpoints may still be on its way into the
      // tunnel (sshd accepted it, its channel has not reached us yet): the tunnel closes only
      // once it has been empty for a moment, or that caller would be reset.
      const quietMs = timing.quietMs ?? 500;
      let emptySince: number | undefined;
      await waitUntil(
        () => {
          if (expose.activeConnections() > 0) emptySince = undefined;
          else emptySince ??= timing.clock.now();
          return Promise.resolve(emptySince !== undefined && timing.clock.now() - emptySince >= quietMs);
        },
        deadline,
        timing,
      );
    },
  },
  { name: 'close the tunnel', run: (expose) => Promise.resolve(expose.closeTunnel()) },
  { name: 'delete the SSH pod and its Secret', run: (expose) => expose.deleteObjects() },
  { name: 'forget the expose', run: (expose) => Promise.resolve(expose.forget()) },
];

/**
 * Runs the stop steps in order. Resolves with what went otherwise than planned (the restored
 * pods not ready in time, a selector someone else had changed), the stop having gone on
 * regardless; a failing step ends the stop with its error.
 */
export async function stopExpose(expose: StoppableExpose, timing: StopTiming): Promise<string | null> {
  const notices: string[] = [];
  for (const step of stopSteps) {
    const said = await step.run(expose, timing);
    if (typeof said === 'string') notices.push(said);
  }
  return notices.length > 0 ? notices.join('; ') : null;
}
