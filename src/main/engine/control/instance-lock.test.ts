/** The instance lock against real processes: live holders refuse, dead or reused pids never block. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  acquireInstanceLock,
  InstanceRunningError,
  lockPath,
  processStartTime,
  readHolder,
} from './instance-lock';

function stateDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'instance-lock-'));
}

/** A real process that holds the lock, as a second Localizer would. */
async function holdInChild(directory: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  const script = `
    const { acquireInstanceLock } = await import(${JSON.stringify(new URL('./instance-lock.ts', import.meta.url).href)});
    acquireInstanceLock(process.argv[1], 'daemon');
    console.log('held');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, directory], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the holder exited with ${String(code)}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid ?? 0,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('the instance lock', () => {
  it('refuses a second instance while the first runs, naming it, and is free again once it is released', () => {
    const directory = stateDirectory();
    const first = acquireInstanceLock(directory, 'app');
    expect(() => acquireInstanceLock(directory, 'daemon')).toThrow(
      `the Localizer app (pid ${String(process.pid)}) owns ${directory}`,
    );
    first.release();
    const second = acquireInstanceLock(directory, 'daemon');
    expect(readHolder(directory)).toMatchObject({ kind: 'daemon', pid: process.pid });
    second.release();
    expect(readHolder(directory)).toBeUndefined();
  });

  it('refuses while another process holds it, and takes it over once that process is SIGKILLed', async () => {
    const directory = stateDirectory();
    const holder = await holdInChild(directory);
    let refusal: unknown;
    try {
      acquireInstanceLock(directory, 'foreground');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(InstanceRunningError);
    expect((refusal as InstanceRunningError).message).toContain(
      `\`localizer daemon\` (pid ${String(holder.pid)})`,
    );
    await holder.stop();
    const taken = acquireInstanceLock(directory, 'foreground');
    expect(readHolder(directory)).toMatchObject({ kind: 'foreground', pid: process.pid });
    taken.release();
  });

  it('does not mistake a reused pid, or a lock cut short, for a running instance', () => {
    const directory = stateDirectory();
    // Our own pid, but another start time: the process that wrote it is gone.
    writeFileSync(
      lockPath(directory),
      JSON.stringify({
        kind: 'daemon',
        pid: process.pid,
        startTime: '1',
        startedAt: new Date(0).toISOString(),
      }),
    );
    expect(readHolder(directory)).toBeUndefined();
    acquireInstanceLock(directory, 'app').release();
    writeFileSync(lockPath(directory), '{"kind":"dae');
    const taken = acquireInstanceLock(directory, 'app');
    expect(JSON.parse(readFileSync(lockPath(directory), 'utf8'))).toMatchObject({ kind: 'app' });
    taken.release();
  });

  it('knows a process by its start time', () => {
    expect(processStartTime(process.pid)).toMatch(/\S/);
    expect(processStartTime(2 ** 22 + 12345)).toBeUndefined();
  });
});
