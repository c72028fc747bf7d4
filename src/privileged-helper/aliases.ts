/**
 * Loopback aliases. Linux routes all of 127.0.0.0/8 to lo already, so there they are no-ops;
 * macOS only answers on 127.0.0.1 until `ifconfig lo0 alias` adds an address.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const aliasesNeeded = process.platform === 'darwin';

export class LoopbackAliases {
  private readonly added = new Set<string>();

  /** Returns whether anything was done (false on Linux, where no alias is needed). */
  async add(ip: string): Promise<boolean> {
    if (!aliasesNeeded) return false;
    if (this.added.has(ip)) return true;
    await run('/sbin/ifconfig', ['lo0', 'alias', ip, 'up']);
    this.added.add(ip);
    return true;
  }

  async remove(ip: string): Promise<boolean> {
    if (!aliasesNeeded || !this.added.has(ip)) return false;
    await run('/sbin/ifconfig', ['lo0', '-alias', ip]);
    this.added.delete(ip);
    return true;
  }

  async removeAll(): Promise<void> {
    for (const ip of [...this.added]) await this.remove(ip);
  }
}
