import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { IpcMainInvokeEvent, WebFrameMain } from 'electron';
import { ok } from '../shared/result';
import { registerHandler } from './ipc';

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;

/** Electron's ipcMain, reduced to the two calls `registerHandler` makes. */
function fakeIpcMain() {
  const handlers = new Map<string, Listener>();
  return {
    handlers,
    handle: (channel: string, listener: Listener) => void handlers.set(channel, listener),
    removeHandler: (channel: string) => void handlers.delete(channel),
  };
}

const ownFrame = { url: 'app://localizer/index.html' } as WebFrameMain;
const strangerFrame = { url: 'https://evil.example/' } as WebFrameMain;

function setup() {
  const ipcMain = fakeIpcMain();
  const warnings: string[] = [];
  const dispose = registerHandler({
    ipcMain,
    channel: 'tunnel:expose',
    argsSchema: z.tuple([z.number().int().min(1).max(65535)]),
    isTrustedFrame: (frame) => frame === ownFrame,
    logger: { warn: (message) => warnings.push(message) },
    handler: (port: number) => ok(`exposed on ${port}`),
  });
  const call = (frame: WebFrameMain, ...args: unknown[]) =>
    ipcMain.handlers.get('tunnel:expose')?.({ senderFrame: frame } as IpcMainInvokeEvent, ...args);
  return { ipcMain, warnings, dispose, call };
}

describe('registerHandler', () => {
  it('answers a call from our own window with the handler’s result', async () => {
    const { call } = setup();
    await expect(call(ownFrame, 3000)).resolves.toEqual({ ok: true, value: 'exposed on 3000' });
  });

  it('refuses a call from a frame that is not ours, and logs why', async () => {
    const { call, warnings } = setup();
    await expect(call(strangerFrame, 3000)).resolves.toMatchObject({ ok: false, code: 'not-allowed' });
    expect(warnings).toEqual(['refused IPC from an untrusted frame']);
  });

  it('refuses arguments that fail the schema, saying which', async () => {
    const { call } = setup();
    const result = await call(ownFrame, 70000);
    expect(result).toMatchObject({ ok: false, code: 'invalid-input' });
    expect((result as { message: string }).message).toContain('tunnel:expose');
  });

  it('removes the handler when disposed', () => {
    const { ipcMain, dispose } = setup();
    dispose();
    expect(ipcMain.handlers.has('tunnel:expose')).toBe(false);
  });
});
