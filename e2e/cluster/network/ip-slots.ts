/**
 * Each running test cluster takes one slot, a /16 of loopback addresses (127.200.0.0/16 to
 * 127.239.0.0/16): pods get the lower half and service cluster IPs the upper half, so clusters
 * running side by side (one per test file) never share an address. Localizer's own default range
 * stays outside 127.200.0.0–127.239.255.255.
 */
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const firstSlotOctet = 200;
export const slotCount = 40;

export interface IpSlot {
  /** Second octet of this cluster's addresses: 127.<octet>.x.y */
  octet: number;
  release: () => void;
}

/**
 * Whether any socket listens (TCP) or is bound (UDP) on an address in 127.<octet>.0.0/16, from
 * the kernel's tables: a process left by an earlier run holds its address whatever its lock
 * file says, and a cluster started on that slot would see its pods crash with EADDRINUSE.
 * False where /proc is missing.
 */
export function slotHasListeners(octet: number): boolean {
  const listening = '0A';
  for (const [table, tcp] of [
    ['tcp', true],
    ['tcp6', true],
    ['udp', false],
    ['udp6', false],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1]?.split(':')[0];
      if (!local || (tcp && fields[3] !== listening)) continue;
      // IPv4 is one little-endian word; IPv6 holds IPv4-mapped addresses in its last word.
      if (local.length === 32 && !local.startsWith('0000000000000000FFFF0000')) continue;
      const word = local.slice(-8);
      if (parseInt(word.slice(6, 8), 16) === 127 && parseInt(word.slice(4, 6), 16) === octet) return true;
    }
  }
  return false;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes a free /16 slot among `count` starting at 127.`firstOctet`, reclaiming slots of processes
 * that died. Throws when all are taken. Test clusters take theirs from 127.200–239; Localizer
 * engines under test take theirs from 127.100–199 (e2e/support/address-ranges.ts), so no two
 * ever share an address.
 */
export function takeIpSlot(
  options: {
    lockDirectory?: string;
    firstOctet?: number;
    count?: number;
    /** Whether a slot is held by sockets no lock file knows of; the kernel's tables by default. */
    inUse?: (octet: number) => boolean;
  } = {},
): IpSlot {
  const inUse = options.inUse ?? slotHasListeners;
  const lockDirectory = options.lockDirectory ?? join(tmpdir(), 'localizer-test-cluster-slots');
  const first = options.firstOctet ?? firstSlotOctet;
  const count = options.count ?? slotCount;
  mkdirSync(lockDirectory, { recursive: true });
  const start = Math.floor(Math.random() * count);
  for (let i = 0; i < count; i++) {
    const octet = first + ((start + i) % count);
    const lockFile = join(lockDirectory, `slot-${octet}.lock`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockFile, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        // Leftovers of an earlier run listen here: leave the slot to them, and say nothing of it
        // in the lock, so the slot is tried again once they are gone.
        if (inUse(octet)) {
          rmSync(lockFile, { force: true });
          break;
        }
        return { octet, release: () => rmSync(lockFile, { force: true }) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number(readFileSync(lockFile, 'utf8'));
        if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) break;
        rmSync(lockFile, { force: true });
      }
    }
  }
  throw new Error(
    `All ${count} address slots in ${lockDirectory} are in use (locked, or with programs listening on 127.${first}–${first + count - 1}.x.x); stop other test clusters and engines (\`ss -ltnp\` shows who listens).`,
  );
}

/** Hands out addresses 127.<octet>.<third>.<fourth> from a half of a slot. */
export class IpPool {
  private readonly used = new Set<string>();
  private next = 0;
  constructor(
    private readonly octet: number,
    private readonly firstThird: number,
    private readonly thirds: number,
  ) {}

  allocate(): string {
    const size = this.thirds * 254;
    for (let i = 0; i < size; i++) {
      const index = (this.next + i) % size;
      const ip = `127.${this.octet}.${this.firstThird + Math.floor(index / 254)}.${(index % 254) + 1}`;
      if (!this.used.has(ip)) {
        this.used.add(ip);
        this.next = index + 1;
        return ip;
      }
    }
    throw new Error(`The address pool 127.${this.octet}.${this.firstThird}.0 is exhausted`);
  }

  /** Marks an address as in use (a service created with an explicit clusterIP). */
  claim(ip: string): boolean {
    if (this.used.has(ip) || !this.contains(ip)) return false;
    this.used.add(ip);
    return true;
  }

  contains(ip: string): boolean {
    const parts = ip.split('.').map(Number);
    const third = parts[2] ?? -1;
    return (
      parts[0] === 127 &&
      parts[1] === this.octet &&
      third >= this.firstThird &&
      third < this.firstThird + this.thirds
    );
  }

  release(ip: string): void {
    this.used.delete(ip);
  }
}
