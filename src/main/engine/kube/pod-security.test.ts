/**
 * Every pod Localizer creates passes Pod Security "restricted", as a namespace enforcing it
 * would check: the SSH pod of each expose mode, the relay pod and a personal intercept's router.
 */
import { describe, expect, it } from 'vitest';
import type * as k8s from '@kubernetes/client-node';
import { exposeModes } from '../../../shared/tunnel-status';
import { generateSshKeys, sshPod, sshSecret, type SshPodSpec } from '../expose/ssh-pod';
import { defaultSshImage } from '../expose/ssh-image';
import { routerObjects } from '../expose/router/router-objects';
import { relayPod } from '../relay/relay-pod';
import { restrictedViolations } from '../../../../e2e/support/pod-security';

const service: k8s.V1Service = {
  metadata: { name: 'api', namespace: 'web' },
  spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
};

describe('Pod Security "restricted"', () => {
  it('refuses what it should: a root, privileged pod with capabilities', () => {
    expect(
      restrictedViolations({
        spec: {
          hostNetwork: true,
          containers: [
            {
              name: 'c',
              image: 'x',
              securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN'] } },
            },
          ],
        },
      }),
    ).toEqual([
      'host namespaces',
      'container c: privileged',
      'container c: allowPrivilegeEscalation != false',
      'container c: must drop ALL capabilities',
      'container c: adds NET_ADMIN',
      'container c: runAsNonRoot != true',
      'container c: seccompProfile must be RuntimeDefault or Localhost',
    ]);
  });

  it.each(exposeModes)("admits the SSH pod of a %s expose, listening on a service's port 80", (mode) => {
    const spec: SshPodSpec = {
      name: 'localizer-api-1',
      namespace: 'web',
      session: 's',
      owner: 'dev@laptop',
      service,
      ports: [{ servicePort: 80, targetPort: 80, targetPortName: 'http', localPort: 3000 }],
      keys: generateSshKeys(),
      image: defaultSshImage,
      originalReplicas: '',
      mode,
    };
    expect(restrictedViolations(sshPod(spec, sshSecret(spec)))).toEqual([]);
  });

  it('admits the relay pod', () => {
    expect(
      restrictedViolations(
        relayPod({
          name: 'r',
          namespace: 'web',
          session: 's',
          owner: 'o',
          image: 'python:3',
          targets: ['10.0.0.1:53/udp'],
        }),
      ),
    ).toEqual([]);
  });

  it("admits a personal intercept's router, listening on a service's port 80", () => {
    const names = routerObjects('api');
    const pod = names.routerPod(
      {
        header: 'x-dev',
        session: 'router-1',
        pod: names.podName(),
        phase: 'starting',
        createdBy: 'dev@laptop',
        originalSelector: { app: 'api' },
        originAddress: '10.96.0.9',
        ports: [{ servicePort: 80, listenPort: 80, name: 'http', kind: 'http' }],
        routes: [],
      },
      { metadata: { name: names.configMap, uid: 'u', annotations: {} } },
    );
    expect(restrictedViolations(pod)).toEqual([]);
    expect(pod.spec?.securityContext?.sysctls).toEqual([
      { name: 'net.ipv4.ip_unprivileged_port_start', value: '0' },
    ]);
  });
});
