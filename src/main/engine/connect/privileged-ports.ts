/**
 * The one rule for a forward's privileged ports (below 1024), TCP and UDP alike: bound directly
 * when Localizer runs as root, else on a spare port that the privileged helper relays the real one
 * to, or not at all (with why) when no helper runs.
 */

/** A relay the helper holds from a privileged `ip:port` to the spare port we bound instead. */
export interface Relay {
  ip: string;
  port: number;
  targetPort: number;
  /** TCP when left out. */
  protocol?: 'udp';
}

export interface PrivilegedAccess {
  /** Whether ports below 1024 can be bound directly (running as root). */
  canBindPrivileged: boolean;
  /** Whether a helper is there to relay privileged ports. */
  relaysAvailable: boolean;
}

/** Where `port` is bound: itself, a spare port (0: the system picks one) or nowhere, with why. */
export type PortBinding = { listenPort: number } | { unavailable: string };

export function bindingFor(port: number, protocol: 'tcp' | 'udp', access: PrivilegedAccess): PortBinding {
  if (port >= 1024 || access.canBindPrivileged) return { listenPort: port };
  if (!access.relaysAvailable) {
    const named = protocol === 'udp' ? `${String(port)}/udp` : String(port);
    return { unavailable: `port ${named} needs the privileged helper, which is not running` };
  }
  return { listenPort: 0 };
}

/** The helper's relay for `port`, when it was bound on a spare port. */
export function helperRelayFor(
  ip: string,
  port: number,
  boundPort: number | undefined,
  protocol: 'tcp' | 'udp',
): Relay[] {
  if (port >= 1024 || boundPort === undefined || boundPort === port) return [];
  return [{ ip, port, targetPort: boundPort, ...(protocol === 'udp' ? { protocol } : {}) }];
}
