/**
 * Whether ssh2 loaded its native crypto binding. Without it ssh2 falls back to pure JavaScript,
 * about 7x slower, which is what happens when the binding was built for another Node or Electron
 * ABI (rebuild with `npm rebuild ssh2`, or electron-builder's npmRebuild for the app).
 */
import { createRequire } from 'node:module';

export function sshNativeCryptoAvailable(): boolean {
  try {
    // ssh2 does not export its crypto module; this is the flag it sets when the binding loads.
    const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as {
      bindingAvailable?: boolean;
    };
    return crypto.bindingAvailable === true;
  } catch {
    return false;
  }
}

/** A warning for the user when tunnels will run slow, or null. */
export function slowCryptoWarning(): string | null {
  return sshNativeCryptoAvailable()
    ? null
    : "ssh2's native crypto binding did not load, so exposes run about 7x slower. Reinstall with `npm ci` (or `npm rebuild ssh2`) for this Node version.";
}
