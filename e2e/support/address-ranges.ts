/**
 * Loopback ranges for Localizer engines under test: a /16 in 127.100–199 per call, locked for this
 * process, so engines in test files running side by side never share an address (nor with a test
 * cluster, whose slots are 127.200–239).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { takeIpSlot } from '../cluster/network/ip-slots';

export function takeLocalizerRange(): { cidr: string; release: () => void } {
  const slot = takeIpSlot({
    lockDirectory: join(tmpdir(), 'localizer-test-engine-slots'),
    firstOctet: 100,
    count: 100,
  });
  return { cidr: `127.${slot.octet}.0.0/16`, release: slot.release };
}
