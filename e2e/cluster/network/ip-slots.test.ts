/** Address slots: a slot whose addresses a leftover process still holds is never handed out. */
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { slotHasListeners, takeIpSlot } from './ip-slots';

// Octets no test cluster (200–239) or engine under test (100–199) uses.
const probeOctets = [241, 242] as const;

function listenTcp(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

describe('address slots', () => {
  it('skips a slot where a process from an earlier run still listens, lock file or not', async () => {
    const [held, free] = probeOctets;
    const leftover = await listenTcp(`127.${String(held)}.0.7`);
    try {
      expect(slotHasListeners(held)).toBe(true);
      expect(slotHasListeners(free)).toBe(false);
      const lockDirectory = mkdtempSync(join(tmpdir(), 'slots-'));
      for (let i = 0; i < 5; i++) {
        const slot = takeIpSlot({ lockDirectory, firstOctet: held, count: 2 });
        expect(slot.octet).toBe(free);
        slot.release();
      }
    } finally {
      await new Promise((resolve) => leftover.close(resolve));
    }
    expect(slotHasListeners(held)).toBe(false);
  });

  it('sees a bound UDP socket too', async () => {
    const [held] = probeOctets;
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, `127.${String(held)}.1.9`, resolve));
    try {
      expect(slotHasListeners(held)).toBe(true);
    } finally {
      socket.close();
    }
  });

  it('says who to ask when every slot is held', async () => {
    const [held] = probeOctets;
    const leftover = await listenTcp(`127.${String(held)}.0.8`);
    try {
      expect(() =>
        takeIpSlot({ lockDirectory: mkdtempSync(join(tmpdir(), 'slots-')), firstOctet: held, count: 1 }),
      ).toThrow(
        /All 1 address slots .* are in use \(locked, or with programs listening on 127\.241–241\.x\.x\).*ss -ltnp/,
      );
    } finally {
      await new Promise((resolve) => leftover.close(resolve));
    }
  });
});
