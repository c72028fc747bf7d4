/** What every front end may send: the argument schemas that main's IPC and the harness apply. */
import { describe, expect, it } from 'vitest';
import { apiArgumentSchemas } from './api';
import { defaultSettings } from './settings';

describe('API arguments', () => {
  it('accept an expose with ports by name and number', () => {
    const request = {
      namespace: 'web',
      service: 'api',
      mappings: [
        { localPort: 3000, remote: 'http' },
        { localPort: 3001, remote: 9090 },
      ],
    };
    expect(apiArgumentSchemas.expose.safeParse([request]).success).toBe(true);
  });

  it('refuse a bad local port, an invalid name, a missing field and extra arguments', () => {
    const bad = [
      [{ namespace: 'web', service: 'api', mappings: [{ localPort: 0, remote: 'http' }] }],
      [{ namespace: 'web', service: 'api', mappings: [{ localPort: 70000, remote: 'http' }] }],
      [{ namespace: 'Web_NS', service: 'api', mappings: [] }],
      [{ namespace: 'web', mappings: [] }],
      [{ namespace: 'web', service: 'api', mappings: [] }, 'extra'],
      ['{"namespace":"web"}'],
    ];
    for (const args of bad)
      expect(apiArgumentSchemas.expose.safeParse(args).success, JSON.stringify(args)).toBe(false);
    expect(apiArgumentSchemas.connect.safeParse(['anything']).success).toBe(false);
  });

  it('refuse settings outside loopback or with an unusable domain, saying which field', () => {
    const parsed = apiArgumentSchemas.updateSettings.safeParse([
      { ...defaultSettings, ipRange: '10.0.0.0/8', clusterDomain: 'bad domain' },
    ]);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      '0.ipRange',
      '0.clusterDomain',
    ]);
  });
});
