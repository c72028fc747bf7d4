/** Which service ports an expose carries, and where to. */
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parsePortMapping, resolveExposedPorts } from './port-map';

const service: k8s.V1Service = {
  metadata: { namespace: 'web', name: 'api' },
  spec: {
    selector: { app: 'api' },
    ports: [
      { name: 'http', port: 80, targetPort: 'web' },
      { name: 'grpc', port: 9000 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ],
  },
};
const templates: k8s.V1PodTemplateSpec[] = [
  { spec: { containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 8080 }] }] } },
];

describe('expose port mappings', () => {
  it('map every TCP port to the same local port by default, resolving named target ports', () => {
    expect(resolveExposedPorts(service, templates, [])).toEqual([
      { servicePort: 80, servicePortName: 'http', targetPort: 8080, targetPortName: 'web', localPort: 80 },
      { servicePort: 9000, servicePortName: 'grpc', targetPort: 9000, localPort: 9000 },
    ]);
  });

  it('take a service port by name or number', () => {
    const mapped = resolveExposedPorts(service, templates, [
      parsePortMapping('3000:http'),
      parsePortMapping('3001:9000'),
    ]);
    expect(mapped.map((p) => [p.servicePort, p.localPort])).toEqual([
      [80, 3000],
      [9000, 3001],
    ]);
  });

  it('refuse a UDP port, a local port used twice, and a named port no workload declares', () => {
    expect(() => resolveExposedPorts(service, templates, [parsePortMapping('53:dns')])).toThrow(
      'web/api port dns is UDP; an SSH tunnel carries TCP only.',
    );
    expect(() =>
      resolveExposedPorts(service, templates, [parsePortMapping('3000:http'), parsePortMapping('3000:grpc')]),
    ).toThrow('Local port 3000 is mapped twice');
    expect(() => resolveExposedPorts(service, [], [parsePortMapping('3000:http')])).toThrow(
      'no workload behind it declares that name',
    );
  });

  it('refuse mappings that are not LOCAL:REMOTE with a valid local port', () => {
    for (const bad of ['3000', '0:http', '70000:http', 'abc:http', '3000:HTTP', '3000:']) {
      expect(() => parsePortMapping(bad), bad).toThrow(/is not LOCAL:REMOTE/);
    }
  });
});
