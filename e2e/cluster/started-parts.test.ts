/** The test cluster's start order: a part that fails stops those before it, last started first. */
import { describe, expect, it } from 'vitest';
import { StartedParts } from './started-parts';

describe('the test cluster starting its parts', () => {
  it('stops what had started, last first, when a later part fails, and says why it failed', async () => {
    const parts = new StartedParts();
    const stopped: string[] = [];
    const start = async (): Promise<void> => {
      await parts.start(
        'kubelet',
        () => undefined,
        () => stopped.push('kubelet'),
      );
      await parts.start(
        'kube-proxy',
        () => undefined,
        () => stopped.push('kube-proxy'),
      );
      await parts.start(
        'API server',
        () => Promise.reject(new Error('listen EADDRINUSE: 127.0.0.1:6443')),
        () => stopped.push('API server'),
      );
    };
    await expect(start()).rejects.toThrow('EADDRINUSE');
    expect(parts.names).toEqual(['kube-proxy', 'kubelet']);
    await parts.stopAll();
    expect(stopped).toEqual(['kube-proxy', 'kubelet']);
    expect(parts.names).toEqual([]);
  });

  it('stops the rest when one part fails to stop, and names it', async () => {
    const parts = new StartedParts();
    const stopped: string[] = [];
    await parts.start(
      'kubelet',
      () => undefined,
      () => stopped.push('kubelet'),
    );
    await parts.start(
      'outside hosts',
      () => undefined,
      () => {
        throw new Error('EBUSY');
      },
    );
    await parts.start(
      'API server',
      () => undefined,
      () => stopped.push('API server'),
    );
    await expect(parts.stopAll()).rejects.toThrow('could not stop outside hosts: EBUSY');
    expect(stopped).toEqual(['API server', 'kubelet']);
  });
});
