/** A privileged port the helper relays: `ip:port` to the engine's listener on `ip:targetPort`. */
export interface Relay {
  ip: string;
  port: number;
  targetPort: number;
  protocol?: 'tcp' | 'udp' | undefined;
}
