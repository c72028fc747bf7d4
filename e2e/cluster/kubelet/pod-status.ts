/**
 * A pod's status as the kubelet reports it, computed from what the kubelet knows of its
 * containers: the phase, the conditions (keeping a condition's transition time while its status
 * holds) and each container's state. A pure function, so it is tested as a table of pods.
 */

export type ContainerPhase =
  | { state: 'waiting'; reason: string; message?: string }
  | { state: 'running'; startedAt: string }
  | { state: 'terminated'; exitCode: number; reason: string; startedAt: string; finishedAt: string };

export interface ContainerFacts {
  name: string;
  image: string;
  /** The image resolved to something the test cluster can run. */
  imageKnown: boolean;
  pid: number | undefined;
  phase: ContainerPhase;
  lastTerminated: ContainerPhase | undefined;
  ready: boolean;
  /** Has run at least once (a container that has never started keeps its pod Pending). */
  started: boolean;
  restartCount: number;
}

export interface PodFacts {
  ip: string;
  startTime: string;
  /** Being deleted: no longer Ready, whatever its containers say. */
  terminating: boolean;
  containers: ContainerFacts[];
}

export interface PodCondition {
  type: string;
  status: string;
  lastTransitionTime: string;
}

export function podStatus(
  pod: PodFacts,
  previousConditions: readonly PodCondition[],
  now: string,
): Record<string, unknown> {
  const { containers } = pod;
  const allReady = containers.every((c) => c.ready) && !pod.terminating;
  const anyRunning = containers.some((c) => c.phase.state === 'running');
  const allStarted = containers.every((c) => c.started);
  const allTerminated = containers.every((c) => c.phase.state === 'terminated');
  let phase = 'Pending';
  if (allTerminated && allStarted) {
    phase = containers.every((c) => c.phase.state === 'terminated' && c.phase.exitCode === 0)
      ? 'Succeeded'
      : 'Failed';
  } else if (allStarted || anyRunning) {
    phase = 'Running';
  }
  const condition = (type: string, ok: boolean): Record<string, unknown> => {
    const status = ok ? 'True' : 'False';
    const before = previousConditions.find((c) => c.type === type);
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: before?.status === status ? before.lastTransitionTime : now,
    };
  };
  return {
    phase,
    conditions: [
      condition('PodReadyToStartContainers', true),
      condition('Initialized', true),
      condition('Ready', allReady),
      condition('ContainersReady', allReady),
      condition('PodScheduled', true),
    ],
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: pod.ip,
    podIPs: [{ ip: pod.ip }],
    startTime: pod.startTime,
    qosClass: 'BestEffort',
    containerStatuses: containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: c.imageKnown ? `localizer-test://${c.image}` : '',
      ...(c.pid ? { containerID: `localizer://${String(c.pid)}` } : {}),
      ready: c.ready,
      started: c.phase.state === 'running',
      restartCount: c.restartCount,
      state: phaseToState(c.phase),
      lastState: c.lastTerminated ? phaseToState(c.lastTerminated) : {},
    })),
  };
}

function phaseToState(phase: ContainerPhase): Record<string, unknown> {
  switch (phase.state) {
    case 'waiting':
      return { waiting: { reason: phase.reason, ...(phase.message ? { message: phase.message } : {}) } };
    case 'running':
      return { running: { startedAt: phase.startedAt } };
    case 'terminated': {
      const { state: _state, ...rest } = phase;
      return { terminated: rest };
    }
  }
}
