/**
 * Stable loopback addresses: each key (a service, or a pod under a headless service) keeps its IP
 * across reconnects and restarts, persisted per context, so names never move. Keys no longer in
 * use keep their address until the range runs short.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ipv4ToNumber, numberToIpv4, parseIpv4Range, type Ipv4Range } from '../../../shared/ipv4-range';

/** The range cannot hold every address asked for. */
export class AddressRangeFullError extends Error {
  override name = 'AddressRangeFullError';
}

export class AddressBook {
  private readonly range: Ipv4Range;
  private readonly byKey = new Map<string, string>();
  private readonly byIp = new Map<string, string>();
  private dirty = false;

  /** `file` is where the mapping persists; `reserved` addresses are never handed out (127.0.0.1). */
  constructor(
    cidr: string,
    private readonly file: string,
    private readonly reserved: ReadonlySet<string> = new Set(['127.0.0.1']),
  ) {
    this.range = parseIpv4Range(cidr);
    if (this.range.end - this.range.first < 4)
      throw new AddressRangeFullError(`The address range ${cidr} is too small; use at least a /24.`);
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        range?: string;
        addresses?: Record<string, string>;
      };
      if (saved.range === this.range.cidr) {
        for (const [key, ip] of Object.entries(saved.addresses ?? {})) this.remember(key, ip);
      }
    } catch {
      // No saved mapping yet, or an unreadable one: start fresh.
    }
  }

  private remember(key: string, ip: string): void {
    this.byKey.set(key, ip);
    this.byIp.set(ip, key);
  }

  /** The address of `key`, handing out a new one if needed. `inUse` are keys that must keep theirs. */
  addressOf(key: string, inUse: ReadonlySet<string>): string {
    const known = this.byKey.get(key);
    if (known) return known;
    // Skip the network address of the range, and anything reserved.
    for (let value = this.range.first + 1; value < this.range.end - 1; value++) {
      const ip = numberToIpv4(value);
      if (this.reserved.has(ip) || this.byIp.has(ip)) continue;
      this.remember(key, ip);
      this.dirty = true;
      return ip;
    }
    // Full: reuse an address whose key is gone.
    for (const [ip, owner] of this.byIp) {
      if (inUse.has(owner)) continue;
      this.byKey.delete(owner);
      this.remember(key, ip);
      this.dirty = true;
      return ip;
    }
    throw new AddressRangeFullError(
      `The address range ${this.range.cidr} has no free address for ${key}; choose a larger one with --ip-range.`,
    );
  }

  /** Writes the mapping if it changed (temp file and rename). */
  save(): void {
    if (!this.dirty) return;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    const addresses = Object.fromEntries(
      [...this.byKey].sort((a, b) => ipv4ToNumber(a[1]) - ipv4ToNumber(b[1])),
    );
    writeFileSync(temp, `${JSON.stringify({ range: this.range.cidr, addresses }, null, 1)}\n`, {
      mode: 0o600,
    });
    renameSync(temp, this.file);
    this.dirty = false;
  }
}
