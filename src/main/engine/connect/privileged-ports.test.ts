import { describe, expect, it } from 'vitest';
import { bindingFor, helperRelayFor } from './privileged-ports';

describe('bindingFor: where a forward port is bound', () => {
  it.each([
    { port: 8080, protocol: 'tcp', root: false, helper: false, binding: { listenPort: 8080 } },
    { port: 1024, protocol: 'udp', root: false, helper: false, binding: { listenPort: 1024 } },
    { port: 80, protocol: 'tcp', root: true, helper: false, binding: { listenPort: 80 } },
    { port: 80, protocol: 'tcp', root: false, helper: true, binding: { listenPort: 0 } },
    { port: 53, protocol: 'udp', root: false, helper: true, binding: { listenPort: 0 } },
    {
      port: 80,
      protocol: 'tcp',
      root: false,
      helper: false,
      binding: { unavailable: 'port 80 needs the privileged helper, which is not running' },
    },
    {
      port: 53,
      protocol: 'udp',
      root: false,
      helper: false,
      binding: { unavailable: 'port 53/udp needs the privileged helper, which is not running' },
    },
  ] as const)('$port/$protocol, root $root, helper $helper', ({ port, protocol, root, helper, binding }) => {
    expect(bindingFor(port, protocol, { canBindPrivileged: root, relaysAvailable: helper })).toEqual(binding);
  });
});

describe('helperRelayFor: what the helper must relay', () => {
  it('relays a privileged port bound on a spare one, and names UDP', () => {
    expect(helperRelayFor('127.1.2.3', 80, 40123, 'tcp')).toEqual([
      { ip: '127.1.2.3', port: 80, targetPort: 40123 },
    ]);
    expect(helperRelayFor('127.1.2.3', 53, 40124, 'udp')).toEqual([
      { ip: '127.1.2.3', port: 53, targetPort: 40124, protocol: 'udp' },
    ]);
  });

  it('relays nothing for a port bound as itself, not bound yet, or not privileged', () => {
    expect(helperRelayFor('127.1.2.3', 80, 80, 'tcp')).toEqual([]);
    expect(helperRelayFor('127.1.2.3', 80, undefined, 'tcp')).toEqual([]);
    expect(helperRelayFor('127.1.2.3', 8080, 40125, 'udp')).toEqual([]);
  });
});
