import { describe, expect, it } from 'vitest';
import { hostsEntriesFor } from './service-names';
import { mergeHosts } from './helper-sync';

describe('mergeHosts', () => {
  it('gives a contested name to the context connected first and tells the other', () => {
    const merged = mergeHosts([
      { source: 'prod', entries: [{ ip: '127.77.0.1', names: ['api.web', 'api.web.svc'] }] },
      { source: 'staging', entries: [{ ip: '127.77.0.9', names: ['api.web', 'api.web.svc', 'admin.web'] }] },
    ]);
    expect(merged.entries).toEqual([
      { ip: '127.77.0.1', names: ['api.web', 'api.web.svc'] },
      { ip: '127.77.0.9', names: ['admin.web'] },
    ]);
    expect(Object.fromEntries(merged.lost.get('staging') ?? [])).toEqual({
      'api.web': 'prod',
      'api.web.svc': 'prod',
    });
    expect(merged.lost.get('prod')).toBeUndefined();
  });

  it('drops an entry whose every name is taken', () => {
    const merged = mergeHosts([
      { source: 'a', entries: [{ ip: '127.77.0.1', names: ['x.y'] }] },
      { source: 'b', entries: [{ ip: '127.77.0.2', names: ['x.y'] }] },
    ]);
    expect(merged.entries).toEqual([{ ip: '127.77.0.1', names: ['x.y'] }]);
  });
});

describe('hosts lines for .local names', () => {
  it('gives a .local name its address as IPv4-mapped IPv6 too, and nothing else a second line', () => {
    expect(hostsEntriesFor('127.77.0.5', ['api.web', 'api.web.svc', 'api.web.svc.cluster.local'])).toEqual([
      { ip: '127.77.0.5', names: ['api.web', 'api.web.svc', 'api.web.svc.cluster.local'] },
      { ip: '::ffff:127.77.0.5', names: ['api.web.svc.cluster.local'] },
    ]);
    expect(hostsEntriesFor('127.77.0.6', ['api.web', 'api.web.svc.corp.example'])).toHaveLength(1);
  });

  it('keeps both lines of one context through the merge, and neither of a name another holds', () => {
    const merged = mergeHosts([
      { source: 'a', entries: hostsEntriesFor('127.77.0.1', ['x.y', 'x.y.svc.cluster.local']) },
      { source: 'b', entries: hostsEntriesFor('127.77.0.2', ['x.y', 'x.y.svc.cluster.local']) },
    ]);
    expect(merged.entries).toEqual([
      { ip: '127.77.0.1', names: ['x.y', 'x.y.svc.cluster.local'] },
      { ip: '::ffff:127.77.0.1', names: ['x.y.svc.cluster.local'] },
    ]);
  });
});
