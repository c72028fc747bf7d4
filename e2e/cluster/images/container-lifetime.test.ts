/**
 * A container started just as its cluster exits is reparented before it runs, so it cannot learn
 * its kubelet from `process.ppid`: the kubelet names itself in LOCALIZER_KUBELET_PID, and a
 * container (or the OpenSSH supervisor) whose parent is not that process exits at once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const image = (name: string): string => fileURLToPath(new URL(`./${name}`, import.meta.url));

function exitOf(args: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, POD_IP: '127.0.0.1', LOCALIZER_CONTAINER_PORTS: '0', ...env },
    stdio: 'ignore',
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, 3000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('a container whose kubelet is already gone', () => {
  it('exits at once, and one whose kubelet is its parent runs on', async () => {
    // Pid 1 stands for "a kubelet that is not my parent": what a reparented container sees.
    expect(await exitOf([image('http-server.mjs')], { LOCALIZER_KUBELET_PID: '1' })).toBe(0);
    expect(
      await exitOf([image('http-server.mjs')], { LOCALIZER_KUBELET_PID: String(process.pid) }),
    ).toBeNull();
  });

  it('makes the OpenSSH supervisor exit before it starts its command', async () => {
    expect(await exitOf([image('supervise.mjs'), 'sleep', '30'], { LOCALIZER_KUBELET_PID: '1' })).toBe(137);
  });
});
