import { describe, expect, it } from 'vitest';
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
