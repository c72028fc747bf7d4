/**
 * The kubelet's pod status as input/output data (as kwok tests its pod stages): what the kubelet
 * knows of a pod's containers in, the status clients read out.
 */
import { describe, expect, it } from 'vitest';
import { podStatus, type ContainerFacts, type ContainerPhase, type PodFacts } from './pod-status';

const earlier = '2026-12-04T10:00:00Z';
const now = '2026-12-04T10:05:00Z';
const running: ContainerPhase = { state: 'running', startedAt: earlier };
const creating: ContainerPhase = { state: 'waiting', reason: 'ContainerCreating' };
const exited = (exitCode: number): ContainerPhase => ({
  state: 'terminated',
  exitCode,
  reason: exitCode === 0 ? 'Completed' : 'Error',
  startedAt: earlier,
  finishedAt: now,
});

function container(facts: Partial<ContainerFacts>): ContainerFacts {
  return {
    name: 'app',
    image: 'localizer-test/http-server',
    imageKnown: true,
    pid: 4242,
    phase: running,
    lastTerminated: undefined,
    ready: true,
    started: true,
    restartCount: 0,
    ...facts,
  };
}

function pod(containers: ContainerFacts[], terminating = false): PodFacts {
  return { ip: '127.30.0.7', startTime: earlier, terminating, containers };
}

const conditionOf = (status: Record<string, unknown>, type: string) =>
  (status.conditions as { type: string; status: string; lastTransitionTime: string }[]).find(
    (c) => c.type === type,
  );

describe('the pod status the kubelet reports', () => {
  it.each([
    [
      'a container being created',
      [container({ phase: creating, ready: false, started: false, pid: undefined })],
      false,
      'Pending',
      'False',
    ],
    ['one running and ready', [container({})], false, 'Running', 'True'],
    [
      'one ready, one not yet',
      [container({}), container({ name: 'side', ready: false })],
      false,
      'Running',
      'False',
    ],
    ['a ready pod being deleted', [container({})], true, 'Running', 'False'],
    [
      'every container done, all exit 0',
      [container({ phase: exited(0), ready: false })],
      false,
      'Succeeded',
      'False',
    ],
    [
      'every container done, one failed',
      [
        container({ phase: exited(0), ready: false }),
        container({ name: 'side', phase: exited(2), ready: false }),
      ],
      false,
      'Failed',
      'False',
    ],
    [
      'restarting after a crash',
      [
        container({
          phase: { state: 'waiting', reason: 'CrashLoopBackOff' },
          ready: false,
          restartCount: 3,
          lastTerminated: exited(1),
        }),
      ],
      false,
      'Running',
      'False',
    ],
  ] as const)('%s: phase %s, Ready %s', (_, containers, terminating, phase, ready) => {
    const status = podStatus(pod([...containers], terminating), [], now);
    expect(status.phase).toBe(phase);
    expect(conditionOf(status, 'Ready')?.status).toBe(ready);
    expect(conditionOf(status, 'ContainersReady')?.status).toBe(ready);
  });

  it("reports each container's state, last state, restarts and ID as clients read them", () => {
    const status = podStatus(
      pod([
        container({
          phase: { state: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 10s restarting' },
          lastTerminated: exited(1),
          ready: false,
          restartCount: 2,
          pid: undefined,
        }),
        container({
          name: 'unknown-image',
          image: 'example.com/nope',
          imageKnown: false,
          phase: { state: 'waiting', reason: 'ErrImagePull' },
          started: false,
          ready: false,
          pid: undefined,
        }),
      ]),
      [],
      now,
    );
    expect(status).toMatchObject({ podIP: '127.30.0.7', podIPs: [{ ip: '127.30.0.7' }], startTime: earlier });
    expect(status.containerStatuses).toEqual([
      {
        name: 'app',
        image: 'localizer-test/http-server',
        imageID: 'localizer-test://localizer-test/http-server',
        ready: false,
        started: false,
        restartCount: 2,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: earlier, finishedAt: now } },
      },
      {
        name: 'unknown-image',
        image: 'example.com/nope',
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: { waiting: { reason: 'ErrImagePull' } },
        lastState: {},
      },
    ]);
  });

  it("keeps a condition's transition time while its status holds, and moves it when it changes", () => {
    const before = [
      { type: 'Ready', status: 'True', lastTransitionTime: earlier },
      { type: 'Initialized', status: 'True', lastTransitionTime: earlier },
    ];
    const notReady = podStatus(pod([container({ ready: false })]), before, now);
    expect(conditionOf(notReady, 'Ready')?.lastTransitionTime).toBe(now);
    expect(conditionOf(notReady, 'Initialized')?.lastTransitionTime).toBe(earlier);
  });
});
