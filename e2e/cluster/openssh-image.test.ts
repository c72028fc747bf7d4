/**
 * The OpenSSH test image runs the real sshd with the pod's command, args and Secret volumes, as
 * the pod's non-root user, and serves key-only logins and remote forwards on the pod's IP.
 */
import { connect, createServer, type AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoRoundTrip } from '../support/sockets';
import { field, type KubeObject } from './api/objects';
import { resourceTypeOfKind } from './api/resources';
import { images } from './scenarios/builders';
import { startTestCluster, type TestCluster } from './test-cluster';
import { generateEd25519KeyPair } from '../../src/main/engine/expose/ssh-pod';
import { requireSystemTools } from '../support/system-tools';

const pods = resourceTypeOfKind('Pod');
const secrets = resourceTypeOfKind('Secret');
let cluster: TestCluster;
// Keys OpenSSH can load: ssh2's own generator cuts 1 key in 256 short (see generateEd25519KeyPair).
const hostKey = generateEd25519KeyPair();
const clientKey = generateEd25519KeyPair();
const strangerKey = generateEd25519KeyPair();

const sshdConfig = [
  'Port 2222',
  'HostKey /etc/localizer-ssh/host_key',
  'AuthorizedKeysFile /etc/localizer-ssh/authorized_keys',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'PubkeyAuthentication yes',
  'AllowTcpForwarding remote',
  'GatewayPorts clientspecified',
  'PermitTTY no',
  'X11Forwarding no',
  'UsePAM no',
  'PidFile none',
  '',
].join('\n');

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function sshPod(name: string, securityContext: Record<string, unknown>): KubeObject {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      securityContext,
      containers: [
        {
          name: 'sshd',
          image: images.openssh,
          command: ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/localizer-ssh/sshd_config'],
          ports: [{ name: 'ssh', containerPort: 2222 }],
          readinessProbe: { tcpSocket: { port: 'ssh' } },
          volumeMounts: [{ name: 'ssh', mountPath: '/etc/localizer-ssh', readOnly: true }],
        },
      ],
      volumes: [{ name: 'ssh', secret: { secretName: 'ssh-files', defaultMode: 0o440 } }],
    },
  };
}

/** Why the pod's first container is waiting, as `kubectl get pod` shows it in STATUS. */
function waitingReason(name: string): unknown {
  return field(
    cluster.store.get(pods, 'default', name),
    'status',
    'containerStatuses',
    '0',
    'state',
    'waiting',
    'reason',
  );
}

async function readyPodIp(name: string): Promise<string> {
  try {
    await expect
      .poll(() => field(cluster.store.get(pods, 'default', name), 'status', 'conditions'), {
        timeout: 20_000,
        message: `${name} should become Ready`,
      })
      .toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
  } catch (error) {
    // What sshd said and how its container stands are what tell why.
    const status = JSON.stringify(
      field(cluster.store.get(pods, 'default', name), 'status', 'containerStatuses'),
    );
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\ncontainer: ${status}\nlog:\n${cluster.logs('default', name)}`,
    );
  }
  return String(field(cluster.store.get(pods, 'default', name), 'status', 'podIP'));
}

function connectSsh(host: string, privateKey: string): Promise<ssh2.Client> {
  const expected = hostKey.public.split(' ')[1];
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('ready', () => resolve(client));
    client.on('error', reject);
    client.connect({
      host,
      port: 2222,
      username: 'localizer',
      privateKey,
      hostVerifier: (key: Buffer) => key.toString('base64') === expected,
      readyTimeout: 10_000,
    });
  });
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'empty' });
  cluster.registry.create(secrets, 'default', {
    metadata: { name: 'ssh-files' },
    data: {
      host_key: base64(hostKey.private),
      authorized_keys: base64(`${clientKey.public}\n`),
      sshd_config: base64(sshdConfig),
    },
  });
});
afterAll(() => cluster.stop());

describe('the OpenSSH test image', () => {
  it('runs sshd as a non-root user with the mounted config, and carries a remote forward', async () => {
    cluster.registry.create(
      pods,
      'default',
      sshPod('ssh-nonroot', { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 }),
    );
    const podIp = await readyPodIp('ssh-nonroot');
    const client = await connectSsh(podIp, clientKey.private);
    const laptop = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => laptop.listen(0, '127.0.0.1', resolve));
    const laptopPort = (laptop.address() as AddressInfo).port;
    client.on('tcp connection', (_info, accept) => {
      const channel = accept();
      const local = connect({ host: '127.0.0.1', port: laptopPort });
      channel.pipe(local).pipe(channel);
    });
    await new Promise<void>((resolve, reject) =>
      client.forwardIn(podIp, 8080, (error) => (error ? reject(error) : resolve())),
    );
    const payload = Buffer.from('through the pod to the laptop');
    const echoed = await echoRoundTrip(podIp, 8080, payload);
    expect(echoed.toString()).toBe(payload.toString());
    client.end();
    laptop.close();
  });

  it('refuses a key that is not in the mounted authorized_keys', async () => {
    const podIp = await readyPodIp('ssh-nonroot');
    await expect(connectSsh(podIp, strangerKey.private)).rejects.toThrow(/authentication methods failed/);
  });

  it('keeps a runAsNonRoot pod from starting as the image’s root user', async () => {
    cluster.registry.create(pods, 'default', sshPod('ssh-root-refused', { runAsNonRoot: true }));
    await expect
      .poll(() => waitingReason('ssh-root-refused'), { timeout: 10_000 })
      .toBe('CreateContainerConfigError');
  });

  it('leaves a pod with an unknown image Pending with ErrImagePull', async () => {
    cluster.registry.create(pods, 'default', {
      metadata: { name: 'typo' },
      spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
    });
    await expect
      .poll(() => waitingReason('typo'), { timeout: 10_000 })
      .toMatch(/ErrImagePull|ImagePullBackOff/);
    expect(field(cluster.store.get(pods, 'default', 'typo'), 'status', 'phase')).toBe('Pending');
  });
});
