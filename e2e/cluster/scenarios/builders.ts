/** Small builders for the objects scenarios create, so each scenario reads as a list of services. */
import type { ContainerPort, KubeObject, ServicePort } from '../api/objects';

export const images = {
  http: 'localizer-test/http-server:1.0',
  echo: 'localizer-test/echo-server:1.0',
  bulk: 'localizer-test/bulk-server:1.0',
  grpc: 'localizer-test/grpc-server:1.0',
  openssh: 'localizer-test/openssh-server:9.2',
  redis: 'redis:7.0',
} as const;

export function namespace(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

/** A container's extra settings: its arguments and environment, as a manifest writes them. */
export interface ContainerExtras {
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
  readinessProbe?: { tcpSocket: { port: number | string } };
}

export function deployment(
  name: string,
  options: {
    replicas: number;
    image: string;
    ports: ContainerPort[];
    labels?: Record<string, string>;
  } & ContainerExtras,
): KubeObject {
  const labels = options.labels ?? { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name,
              image: options.image,
              ports: options.ports,
              ...(options.args ? { args: options.args } : {}),
              ...(options.env ? { env: options.env } : {}),
              ...(options.readinessProbe ? { readinessProbe: options.readinessProbe } : {}),
            },
          ],
          terminationGracePeriodSeconds: 2,
        },
      },
    },
  };
}

export function statefulSet(
  name: string,
  options: { replicas: number; image: string; ports: ContainerPort[]; serviceName: string },
): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, labels },
    spec: {
      replicas: options.replicas,
      serviceName: options.serviceName,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name, image: options.image, ports: options.ports }],
          terminationGracePeriodSeconds: 2,
        },
      },
    },
  };
}

export function service(
  name: string,
  options: {
    selector?: Record<string, string>;
    ports: ServicePort[];
    headless?: boolean;
    labels?: Record<string, string>;
  },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels: options.labels ?? { app: name } },
    spec: {
      ...(options.selector ? { selector: options.selector } : {}),
      ...(options.headless ? { clusterIP: 'None' } : {}),
      ports: options.ports,
    },
  };
}

export function externalNameService(
  name: string,
  externalName: string,
  ports: ServicePort[] = [],
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { type: 'ExternalName', externalName, ...(ports.length > 0 ? { ports } : {}) },
  };
}
