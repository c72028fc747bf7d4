/**
 * The helper's log: JSON lines on stderr, which its launcher reads, and once that pipe breaks
 * (the launcher was killed: the CLI by SIGKILL, the app by a crash) a file of root's instead.
 * A write to a closed pipe must never end the helper, or it dies before it removes the names
 * its dead client left.
 */
import { appendFileSync } from 'node:fs';

export type HelperLogLevel = 'info' | 'refuse' | 'fatal';

export interface HelperLog {
  write(level: HelperLogLevel, message: string, context?: Record<string, unknown>): void;
  /** Where the log goes now: 'stderr', the file it fell back to, or 'nowhere'. */
  readonly sink: string;
}

/**
 * Logs to `stream` (stderr) until it fails, then appends to `fallbackPath` (mode 0600). Also
 * keeps `extraStreams` (stdout) from ending the process when their pipe breaks.
 */
export function createHelperLog(options: {
  stream: NodeJS.WritableStream;
  fallbackPath: () => string | undefined;
  extraStreams?: NodeJS.WritableStream[];
}): HelperLog {
  let sink = 'stderr';
  let file: string | undefined;
  const toFile = (line: string): void => {
    if (file === undefined) return;
    try {
      appendFileSync(file, line, { mode: 0o600 });
    } catch {
      // Nowhere left to write; the helper's work matters more than its log.
    }
  };
  const fallBack = (): void => {
    if (sink !== 'stderr') return;
    file = options.fallbackPath();
    sink = file ?? 'nowhere';
    toFile(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', message: 'the launcher stopped reading the log (its pipe closed); logging here from now on' })}\n`,
    );
  };
  options.stream.on('error', fallBack);
  for (const extra of options.extraStreams ?? []) extra.on('error', () => undefined);
  return {
    write(level, message, context = {}) {
      const line = `${JSON.stringify({ time: new Date().toISOString(), level, message, ...context })}\n`;
      if (sink !== 'stderr') {
        toFile(line);
        return;
      }
      try {
        options.stream.write(line);
      } catch {
        fallBack();
        toFile(line);
      }
    },
    get sink() {
      return sink;
    },
  };
}
