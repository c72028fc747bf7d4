/**
 * Who is told what an instance says while it starts the privileged helper: the asker, as its
 * progress, and the instance's own log, which leaves out only what a request of its own process
 * (a foreground command's) already showed on that terminal. A request from another terminal or an
 * agent must not take the line away from the terminal where the instance runs, where sudo asks.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../../e2e/support/address-ranges';
import { defaultSettings } from '../../shared/settings';
import { requestControl } from './control/control-client';
import { memorySettings, openLocalizer, type OpenedLocalizer } from './open-localizer';

const helperLine = 'Names in /etc/hosts need the privileged helper; sudo may ask for your password.';
let cluster: TestCluster;
let range: { cidr: string; release: () => void };
let opened: OpenedLocalizer | undefined;
const logged: { message: string; shownHere: boolean }[] = [];
const state = mkdtempSync(join(tmpdir(), 'open-localizer-'));

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'empty' });
  range = takeLocalizerRange();
  opened = await openLocalizer({
    kind: 'foreground',
    appInfo: { version: '0.0.0', platform: process.platform, electron: null },
    stateDirectory: state,
    settings: memorySettings({ ...defaultSettings, ipRange: range.cidr }),
    // A helper that cannot start (names stay off), as on a machine without sudo: it says so.
    startHelper: (_range, say) => {
      say(helperLine);
      return Promise.resolve(undefined);
    },
    log: (message, shownHere) => logged.push({ message, shownHere }),
  });
});
afterAll(async () => {
  await opened?.close();
  range.release();
  await cluster.stop();
});

function connectRequest() {
  return {
    op: 'connect' as const,
    source: { kubeconfig: cluster.kubeconfigPath },
    contexts: [],
    names: true,
  };
}

describe('what the instance says while it starts the helper, and who hears it', () => {
  it('a request of its own process: the asker hears it, and the log knows it was shown here', async () => {
    if (!opened) throw new Error('the instance did not open');
    const progress: string[] = [];
    await opened.request(connectRequest(), { onProgress: (line) => progress.push(line) });
    expect(progress).toContain(helperLine);
    expect(logged.filter((l) => l.message === helperLine)).toEqual([
      { message: helperLine, shownHere: true },
    ]);
    await opened.request({ op: 'disconnect', contexts: [] });
  });

  it('a request from another terminal: that asker hears it, and so does the log where the instance runs', async () => {
    logged.length = 0;
    const progress: string[] = [];
    await requestControl(state, connectRequest(), { onProgress: (line) => progress.push(line) });
    expect(progress).toContain(helperLine);
    expect(logged.filter((l) => l.message === helperLine)).toEqual([
      { message: helperLine, shownHere: false },
    ]);
    await requestControl(state, { op: 'disconnect', contexts: [] });
  });
});
