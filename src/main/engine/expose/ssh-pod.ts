/**
 * The SSH pod that stands in for a Service's workloads during an expose, and the Secret that
 * carries its keys and sshd config. Keys are made per expose: the client key is the only one sshd
 * accepts, and the host key is pinned by the tunnel, so no password and no trust-on-first-use.
 */
import type * as k8s from '@kubernetes/client-node';
import ssh2 from 'ssh2';
import { localizerKeys } from '../kube/localizer-keys';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../kube/restricted-pod';
import type { ExposeMode } from '../../../shared/tunnel-status';
import type { ExposedPort } from './port-map';
import type { SshImage } from './ssh-image';

export const labels = {
  /** Every object an expose creates carries it; leftovers are found by it. */
  session: localizerKeys.session,
  managedBy: localizerKeys.managedBy,
} as const;

export const podAnnotations = {
  owner: localizerKeys.owner,
  service: localizerKeys.service,
  originalReplicas: localizerKeys.originalReplicas,
} as const;

export const sshPort = 2222;
const configDirectory = '/etc/localizer-ssh';

export interface SshKeys {
  /** OpenSSH private keys (PEM), kept in memory and in the Secret only. */
  clientPrivateKey: string;
  clientPublicKey: string;
  hostPrivateKey: string;
  hostPublicKey: string;
}

/** `ssh-ed25519` (4 + 11 bytes) and its 32-byte key (4 + 32): every valid public key blob. */
const ed25519BlobLength = 51;

/**
 * An ed25519 key pair that OpenSSH can load. ssh2 drops leading zero bytes from the public key
 * (https://github.com/mscdex/ssh2/issues/1390), so about 1 key in 256 comes out 31 bytes long
 * and sshd refuses it ("error in libcrypto"); such a pair is made again.
 */
export function generateEd25519KeyPair(comment = ''): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const blob = Buffer.from(pair.public.split(' ')[1] ?? '', 'base64');
    if (blob.length === ed25519BlobLength) return pair;
  }
}

/** A fresh client key and host key for one expose. */
export function generateSshKeys(): SshKeys {
  const client = generateEd25519KeyPair('localizer-expose');
  const host = generateEd25519KeyPair('localizer-expose-host');
  return {
    clientPrivateKey: client.private,
    clientPublicKey: client.public,
    hostPrivateKey: host.private,
    hostPublicKey: host.public,
  };
}

/** sshd allows this one key, remote forwards on the exposed ports only, and nothing else. */
export function sshdConfig(image: SshImage, ports: readonly ExposedPort[]): string {
  return [
    `Port ${String(sshPort)}`,
    `HostKey ${configDirectory}/host_key`,
    `AuthorizedKeysFile ${configDirectory}/authorized_keys`,
    `AllowUsers ${image.user}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    'AllowTcpForwarding remote',
    `PermitListen ${ports.map((p) => String(p.targetPort)).join(' ')}`,
    // Binds a forward on the pod's IP, where the service sends traffic, and nowhere else.
    'GatewayPorts clientspecified',
    'AllowAgentForwarding no',
    'AllowStreamLocalForwarding no',
    'PermitTunnel no',
    'PermitTTY no',
    'X11Forwarding no',
    'UsePAM no',
    // Kubernetes mounts Secret volumes in a world-writable sticky directory, which StrictModes rejects.
    'StrictModes no',
    'PidFile none',
    'ClientAliveInterval 10',
    'ClientAliveCountMax 3',
    '',
  ].join('\n');
}

export interface SshPodSpec {
  name: string;
  namespace: string;
  session: string;
  owner: string;
  service: k8s.V1Service;
  ports: readonly ExposedPort[];
  keys: SshKeys;
  image: SshImage;
  /** e.g. `Deployment/api=2,StatefulSet/kv=3`, for whoever finds the pod (scale-down only). */
  originalReplicas: string;
  /**
   * `takeover`: the pod carries its own intercept label, which the Service is pointed at;
   * `scale-down`: it carries the Service's selector, and stands in for the scaled-down pods.
   */
  mode: ExposeMode;
}

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function objectLabels(spec: SshPodSpec): Record<string, string> {
  return { [labels.managedBy]: 'localizer', [labels.session]: spec.session };
}

function objectAnnotations(spec: SshPodSpec): Record<string, string> {
  return {
    [podAnnotations.owner]: spec.owner,
    [podAnnotations.service]: `${spec.namespace}/${spec.service.metadata?.name ?? ''}`,
    [podAnnotations.originalReplicas]: spec.originalReplicas,
    [localizerKeys.mode]: spec.mode,
  };
}

export function sshSecret(spec: SshPodSpec): k8s.V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: objectLabels(spec),
      annotations: objectAnnotations(spec),
    },
    type: 'Opaque',
    data: {
      host_key: base64(spec.keys.hostPrivateKey),
      // `restrict` turns off everything a key could do; port forwarding alone is turned back on.
      authorized_keys: base64(`restrict,port-forwarding ${spec.keys.clientPublicKey}\n`),
      sshd_config: base64(sshdConfig(spec.image, spec.ports)),
    },
  };
}

/**
 * The labels the Service finds the pod by: for a takeover its own intercept label (never the
 * Service's selector, so the workloads' pods and this one are never mixed), for a scale-down the
 * Service's selector.
 */
function routingLabels(spec: SshPodSpec): Record<string, string> {
  return spec.mode === 'scale-down'
    ? (spec.service.spec?.selector ?? {})
    : { [localizerKeys.intercept]: spec.session };
}

/**
 * The pod is controlled by its Secret: a ReplicaSet whose selector also matches never adopts
 * (and deletes) it, and deleting the Secret takes the pod with it.
 */
export function sshPod(spec: SshPodSpec, secret: k8s.V1Secret): k8s.V1Pod {
  const privilegedPort = spec.ports.some((p) => p.targetPort < 1024);
  const firstTarget = spec.ports[0]?.targetPort ?? sshPort;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: { ...objectLabels(spec), ...routingLabels(spec) },
      annotations: objectAnnotations(spec),
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          name: secret.metadata?.name ?? spec.name,
          uid: secret.metadata?.uid ?? '',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 2,
      securityContext: restrictedPodSecurity(spec.image.uid, { lowPorts: privilegedPort, fsGroup: true }),
      containers: [
        {
          name: 'sshd',
          image: spec.image.image,
          command: ['/usr/sbin/sshd', '-D', '-e', '-f', `${configDirectory}/sshd_config`],
          ports: [
            { name: 'localizer-ssh', containerPort: sshPort, protocol: 'TCP' },
            ...spec.ports.map((p) => ({
              containerPort: p.targetPort,
              protocol: 'TCP',
              ...(p.targetPortName ? { name: p.targetPortName } : {}),
            })),
          ],
          // Ready only once the tunnel's forward listens, so the service never routes to a pod
          // that would refuse the call.
          readinessProbe: { tcpSocket: { port: firstTarget }, periodSeconds: 2, failureThreshold: 3 },
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
          securityContext: restrictedContainerSecurity,
          volumeMounts: [{ name: 'ssh', mountPath: configDirectory, readOnly: true }],
        },
      ],
      volumes: [
        { name: 'ssh', secret: { secretName: secret.metadata?.name ?? spec.name, defaultMode: 0o440 } },
      ],
    },
  };
}

/** A DNS-1123 name under 63 characters: `localizer-<service>-<session prefix>`. */
export function sshPodName(service: string, session: string): string {
  return `localizer-${service.slice(0, 40)}-${session.slice(0, 8)}`.replace(/-+$/, '');
}
