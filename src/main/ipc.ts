/**
 * The one place IPC handlers are registered: every call's sender frame is checked to be a
 * top-level frame of a window we created, its arguments are validated against a schema, and the
 * handler's expected failures come back as `Result` values.
 */
import type { IpcMain, IpcMainInvokeEvent, WebFrameMain } from 'electron';
import type { z } from 'zod';
import { failure, type Result } from '../shared/result';
import type { IpcErrorCode } from '../shared/api';

export interface IpcLogger {
  warn(message: string, context: Record<string, unknown>): void;
}

/** Whether a frame may call us: set up by the window factory, which knows our origins. */
export type TrustedFrameCheck = (frame: WebFrameMain | null) => boolean;

/**
 * Registers `handler` on `channel`. Returns a disposer that removes it. Untrusted senders and
 * invalid arguments get a `Result` failure, and the reason is logged.
 */
export function registerHandler<Args extends unknown[], T>(options: {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  channel: string;
  argsSchema: z.ZodType<Args>;
  isTrustedFrame: TrustedFrameCheck;
  logger: IpcLogger;
  handler: (...args: Args) => Promise<Result<T, IpcErrorCode>> | Result<T, IpcErrorCode>;
}): () => void {
  const { ipcMain, channel, argsSchema, isTrustedFrame, logger, handler } = options;
  ipcMain.handle(channel, async (event: IpcMainInvokeEvent, ...raw: unknown[]) => {
    if (!isTrustedFrame(event.senderFrame)) {
      logger.warn('refused IPC from an untrusted frame', {
        channel,
        url: event.senderFrame?.url ?? '(gone)',
      });
      return failure('not-allowed', `The caller of ${channel} is not a Localizer window.`);
    }
    const parsed = argsSchema.safeParse(raw);
    if (!parsed.success) {
      logger.warn('refused IPC with invalid arguments', {
        channel,
        issues: parsed.error.issues.map((i) => i.message),
      });
      return failure(
        'invalid-input',
        `Invalid arguments for ${channel}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
    }
    try {
      return await handler(...parsed.data);
    } catch (error) {
      logger.warn('IPC handler failed', {
        channel,
        error: error instanceof Error ? error.message : String(error),
      });
      return failure('internal', `Localizer hit an internal error in ${channel}; see the log for details.`);
    }
  });
  return () => ipcMain.removeHandler(channel);
}
