/** The keys each expose makes, checked by OpenSSH itself (ssh-keygen), which sshd in the pod is. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSshKeys } from './ssh-pod';
import { requireSystemTools } from '../../../../e2e/support/system-tools';

/** What OpenSSH reads back from a private key file: its public key, without the comment. */
function openSshPublicKey(privateKey: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ssh-keys-')), 'key');
  writeFileSync(file, privateKey, { mode: 0o600 });
  return execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .slice(0, 2)
    .join(' ');
}

beforeAll(() => {
  requireSystemTools('ssh');
});
describe('the SSH keys of an expose', () => {
  it('are always keys OpenSSH loads, even where the key begins with a zero byte', () => {
    // Without the check one key in 256 is cut short: 1000 pairs all but surely meet one.
    const pairs = Array.from({ length: 1000 }, () => generateSshKeys());
    const blobLengths = new Set(
      pairs.flatMap((keys) =>
        [keys.clientPublicKey, keys.hostPublicKey].map(
          (key) => Buffer.from(key.split(' ')[1] ?? '', 'base64').length,
        ),
      ),
    );
    expect([...blobLengths]).toEqual([51]);
    for (const keys of pairs.slice(0, 20)) {
      expect(openSshPublicKey(keys.hostPrivateKey)).toBe(keys.hostPublicKey.split(' ').slice(0, 2).join(' '));
      expect(openSshPublicKey(keys.clientPrivateKey)).toBe(
        keys.clientPublicKey.split(' ').slice(0, 2).join(' '),
      );
    }
  });
});
