/**
 * Writing /etc/hosts safely. The normal path is atomic: a temp file in the same directory, fsync,
 * the original's mode and owner, rename. Where /etc/hosts is itself a bind mount (containers, WSL,
 * sandboxes) rename fails with EBUSY, so the fallback rewrites in place without ever leaving a
 * shorter, cut-off file: it writes the new text padded with line breaks to the old length, syncs,
 * and only then truncates.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export type WriteMethod = 'rename' | 'in-place';

/** Replaces the file's content with `transform(current)`, re-reading it just before writing. */
export async function rewriteFile(
  path: string,
  transform: (current: string) => string,
): Promise<{ changed: boolean; method?: WriteMethod }> {
  const current = await fs.readFile(path, 'utf8');
  const next = transform(current);
  if (next === current) return { changed: false };
  const stat = await fs.stat(path);
  const temp = join(dirname(path), `.${basename(path)}.localizer-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', stat.mode & 0o7777);
  try {
    await handle.writeFile(next, 'utf8');
    await handle.chmod(stat.mode & 0o7777);
    await handle.chown(stat.uid, stat.gid).catch(() => undefined);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, path);
    return { changed: true, method: 'rename' };
  } catch (error) {
    await fs.rm(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EBUSY' && code !== 'EXDEV' && code !== 'EPERM') throw error;
  }
  await writeInPlace(path, next);
  return { changed: true, method: 'in-place' };
}

async function writeInPlace(path: string, next: string): Promise<void> {
  const handle = await fs.open(path, 'r+');
  try {
    const { size } = await handle.stat();
    const bytes = Buffer.from(next, 'utf8');
    // Padding keeps a crash between write and truncate from leaving a tail of the old file.
    const padded =
      bytes.length >= size ? bytes : Buffer.concat([bytes, Buffer.alloc(size - bytes.length, 0x0a)]);
    await handle.write(padded, 0, padded.length, 0);
    await handle.sync();
    if (padded.length !== bytes.length) {
      await handle.truncate(bytes.length);
      await handle.sync();
    }
  } finally {
    await handle.close();
  }
}

/**
 * Serialises writes and merges bursts: while one write runs, later requests wait and are served
 * by a single write of the newest state.
 */
export class CoalescingWriter {
  private running: Promise<void> | undefined;
  private pending: { waiters: { resolve: () => void; reject: (error: unknown) => void }[] } | undefined;
  /** How many times the file was actually written; for tests and benchmarks. */
  writes = 0;

  constructor(private readonly write: () => Promise<boolean>) {}

  /** Resolves once a write that started after this call has finished. */
  request(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.pending) this.pending = { waiters: [] };
      this.pending.waiters.push({ resolve, reject });
      if (!this.running) this.running = this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const batch = this.pending;
      this.pending = undefined;
      try {
        if (await this.write()) this.writes++;
        for (const waiter of batch.waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of batch.waiters) waiter.reject(error);
      }
    }
    this.running = undefined;
  }
}
