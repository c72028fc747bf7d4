/**
 * The egress relay pod: one per context and namespace, made on the first connection that needs
 * it. It runs `relay-program.ts` in a public Python image, as nobody, with no service account
 * token, nothing writable and no capabilities, and may reach only the targets in its arguments.
 * It carries no selector labels, so no Service ever routes to it.
 */
import { restrictedContainerSecurity, restrictedPodSecurity } from '../kube/restricted-pod';
import type * as k8s from '@kubernetes/client-node';
import { defaultSettings } from '../../../shared/settings';
import { localizerKeys } from '../kube/localizer-keys';
import { relayProgram } from './relay-program';

/**
 * Docker's official Python image on Alpine: multi-arch, small (about 20 MB), and nothing to
 * fetch at start, since the program travels in the pod's arguments. A cluster that pulls only
 * from a mirror sets another image with the same `python3` (`--relay-image`, Settings).
 */
export const defaultRelayImage = defaultSettings.relayImage;

/** The port the relay listens on, on the pod's 127.0.0.1. */
export const relayPort = 8422;

export interface RelayPodSpec {
  name: string;
  namespace: string;
  session: string;
  owner: string;
  image: string;
  /** `targetKey`s: everything this pod may reach. */
  targets: readonly string[];
}

/** A DNS-1123 name: `localizer-relay-<session prefix>-<random>`. */
export function relayPodName(session: string, suffix: string): string {
  return `localizer-relay-${session.slice(0, 8)}-${suffix}`;
}

export function relayPod(spec: RelayPodSpec): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: {
        [localizerKeys.managedBy]: 'localizer',
        [localizerKeys.session]: spec.session,
        [localizerKeys.role]: 'relay',
      },
      annotations: { [localizerKeys.owner]: spec.owner },
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      restartPolicy: 'Always',
      securityContext: restrictedPodSecurity(65534),
      containers: [
        {
          name: 'relay',
          image: spec.image,
          command: ['python3', '-u', '-c', relayProgram, String(relayPort), ...spec.targets],
          env: [{ name: 'PYTHONDONTWRITEBYTECODE', value: '1' }],
          ports: [{ name: 'relay', containerPort: relayPort, protocol: 'TCP' }],
          resources: { requests: { cpu: '10m', memory: '24Mi' }, limits: { memory: '96Mi' } },
          securityContext: restrictedContainerSecurity,
        },
      ],
    },
  };
}
