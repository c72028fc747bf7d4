/**
 * The no-gap stop, step by step, on an injected clock: the tunnel serves until the restored pods
 * are ready, the calls in it finish before it closes, and no wait outlasts its bound.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../timing/manual-clock';
import { stopExpose, type StoppableExpose } from './expose-stop';

/** The cluster side of an expose, as plain state the test moves: what a user would see change. */
function exposeWorld() {
  const world = {
    events: [] as string[],
    ready: 0,
    wanted: 2,
    routed: true,
    active: 1,
    tunnel: true,
    scaledDown: true,
    canLeave: true,
  };
  const expose: StoppableExpose = {
    restoreWorkloads: () => {
      world.events.push('restore');
      return Promise.resolve(null);
    },
    restoredReadiness: () =>
      Promise.resolve([{ what: 'Deployment web/api', ready: world.ready, wanted: world.wanted }]),
    tunnelOpen: () => world.tunnel,
    scaledDown: () => world.scaledDown,
    leaveService: () => {
      world.events.push('leave service');
      return Promise.resolve(world.canLeave);
    },
    stillRouted: () => Promise.resolve(world.routed),
    activeConnections: () => world.active,
    closeTunnel: () => {
      world.events.push('close tunnel');
      world.tunnel = false;
    },
    deleteObjects: () => {
      world.events.push('delete');
      return Promise.resolve();
    },
    forget: () => world.events.push('forget'),
    say: (message) => world.events.push(`say: ${message}`),
  };
  return { world, expose };
}

const timing = (clock: ManualClock) => ({
  clock,
  restoreTimeoutMs: 60_000,
  drainTimeoutMs: 10_000,
  pollMs: 250,
});

describe('stopping an expose', () => {
  it('lets a call that enters the tunnel just after the service stopped routing finish before closing', async () => {
    const clock = new ManualClock();
    const { world, expose } = exposeWorld();
    world.ready = 2;
    world.routed = false;
    world.active = 0;
    let done = false;
    const stopped = stopExpose(expose, timing(clock)).then(() => (done = true));
    await clock.advance(250);
    // sshd accepted it before the pod left the endpoints; its channel reaches us now.
    world.active = 1;
    await clock.advance(2_000);
    expect(done).toBe(false);
    expect(world.tunnel).toBe(true);
    world.active = 0;
    await clock.advance(1_000);
    expect(done).toBe(true);
    await stopped;
  });

  it('keeps the tunnel serving until the restored pods are ready, and the calls in it finish', async () => {
    const clock = new ManualClock();
    const { world, expose } = exposeWorld();
    let done = false;
    const stopped = stopExpose(expose, timing(clock)).then((notice) => {
      done = true;
      return notice;
    });
    await clock.advance(5_000);
    expect(world.events.filter((e) => !e.startsWith('say'))).toEqual(['restore']);
    expect(world.tunnel).toBe(true);
    world.ready = 2;
    await clock.advance(250);
    expect(world.events).toContain('leave service');
    expect(world.tunnel).toBe(true); // still routed, and a call is in it
    world.routed = false;
    await clock.advance(1_000);
    expect(world.tunnel).toBe(true);
    world.active = 0;
    await clock.advance(250);
    expect(done, 'the tunnel stays a moment after it empties').toBe(false);
    await clock.advance(500);
    expect(done).toBe(true);
    expect(await stopped).toBeNull();
    expect(world.events.filter((e) => !e.startsWith('say'))).toEqual([
      'restore',
      'leave service',
      'close tunnel',
      'delete',
      'forget',
    ]);
    expect(world.events).toContain('say: waiting for Deployment web/api (0 of 2 pods ready)');
  });

  it('gives up waiting for pods that never come after the bound, says so, and still removes everything', async () => {
    const clock = new ManualClock();
    const { world, expose } = exposeWorld();
    world.active = 0;
    world.routed = false;
    const stopped = stopExpose(expose, timing(clock));
    await clock.advance(59_000);
    expect(world.tunnel).toBe(true);
    await clock.advance(1_500);
    expect(await stopped).toMatch(
      /^after 60 s the restored workloads are still not ready: Deployment web\/api \(0 of 2 pods ready\)/,
    );
    expect(world.events.slice(-3)).toEqual(['close tunnel', 'delete', 'forget']);
  });

  it('closes the tunnel after the drain bound even while a call hangs in it', async () => {
    const clock = new ManualClock();
    const { world, expose } = exposeWorld();
    world.ready = 2;
    world.routed = false;
    const stopped = stopExpose(expose, timing(clock));
    await clock.advance(9_000);
    expect(world.tunnel).toBe(true);
    await clock.advance(1_500);
    expect(await stopped).toBeNull();
    expect(world.tunnel).toBe(false);
  });

  it('skips the waits when there is no tunnel or nothing was scaled down (a failed start)', async () => {
    const clock = new ManualClock();
    const { world, expose } = exposeWorld();
    world.tunnel = false;
    world.scaledDown = false;
    expect(await stopExpose(expose, timing(clock))).toBeNull();
    expect(world.events).toEqual(['restore', 'close tunnel', 'delete', 'forget']);
    expect(clock.pending()).toEqual([]);
  });

  it('closes at once where the pod cannot leave the service (no selector, or no patch right)', async () => {
    const clock = new ManualClock();
    const { world, expose } = exposeWorld();
    world.ready = 2;
    world.canLeave = false;
    const stopped = stopExpose(expose, timing(clock));
    await clock.advance(0);
    expect(await stopped).toBeNull();
    expect(world.events.filter((e) => !e.startsWith('say'))).toEqual([
      'restore',
      'leave service',
      'close tunnel',
      'delete',
      'forget',
    ]);
  });
});
