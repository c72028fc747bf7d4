/**
 * The images the test cluster can "pull". Each maps to a real program run as the container's
 * process; any other image leaves the pod Pending with ErrImagePull, as a real cluster would.
 */
import { fileURLToPath } from 'node:url';
import type { SystemToolName } from '../../support/system-tools';

export type ImageRuntime =
  | {
      kind: 'node-program';
      /** Absolute path of the program under `images/`. */
      script: string;
      /** Port used when the container declares none. */
      defaultPort: number;
      user: number;
    }
  | {
      /** The container's own command, run with this machine's program of that name (`python3`). */
      kind: 'host-command';
      user: number;
      /** The program the image is for, which must be installed here. */
      program: string;
      /** The system tool (`npm run setup` installs it) that provides the program. */
      tool: SystemToolName;
      /** The image's command when the container names none (its Docker CMD). */
      defaultCommand?: string[];
      /** The image's WORKDIR, where its process starts unless the container says otherwise. */
      workingDirectory?: string;
      /**
       * Commands the image has under another name on this machine, put first on the container's
       * PATH: Debian's redis-tools has the Redis server as `redis-check-rdb`, which runs as the
       * server when called by any other name.
       */
      aliases?: Record<string, string>;
    }
  | {
      kind: 'openssh';
      user: number;
      defaultCommand: string[];
      /** Accounts the image ships besides root: `name` → uid (the gid is the same). */
      accounts: Record<string, number>;
    };

function program(file: string): string {
  return fileURLToPath(new URL(`../images/${file}`, import.meta.url));
}

/** Images by repository (registry host `docker.io/` and `library/` are ignored, as the tag is). */
export const knownImages: Record<string, ImageRuntime> = {
  'localizer-test/http-server': {
    kind: 'node-program',
    script: program('http-server.mjs'),
    defaultPort: 8080,
    user: 65532,
  },
  'localizer-test/echo-server': {
    kind: 'node-program',
    script: program('echo-server.mjs'),
    defaultPort: 7,
    user: 65532,
  },
  'localizer-test/bulk-server': {
    kind: 'node-program',
    script: program('bulk-server.mjs'),
    defaultPort: 9000,
    user: 65532,
  },
  'localizer-test/grpc-server': {
    kind: 'node-program',
    script: program('grpc-server.mjs'),
    defaultPort: 50051,
    user: 65532,
  },
  'localizer-test/openssh-server': {
    kind: 'openssh',
    user: 0,
    defaultCommand: ['/usr/sbin/sshd', '-D', '-e'],
    accounts: { localizer: 65532 },
  },
};

/**
 * Expose's default image (linuxserver.io's OpenSSH): root by default (its init runs as root), with
 * the non-root account `abc`, uid 911. Localizer runs sshd as the command, so the init never runs.
 */
const linuxserverOpenssh: ImageRuntime = {
  kind: 'openssh',
  user: 0,
  defaultCommand: ['/init'],
  accounts: { abc: 911 },
};
knownImages['lscr.io/linuxserver/openssh-server'] = linuxserverOpenssh;
knownImages['linuxserver/openssh-server'] = linuxserverOpenssh;

/**
 * Docker's official Python image, as connect's relay pods use it: the container's command runs
 * with this machine's /usr/bin/python3, which has the same standard library.
 */
knownImages.python = { kind: 'host-command', user: 0, program: '/usr/bin/python3', tool: 'python3' };

/**
 * Docker's official Redis image: this machine's Redis 7 server (Debian's redis-tools), run as the
 * image's `redis` account. Pods share this machine's network, so a pod tells it its own address
 * (`--bind $(POD_IP)`), as it would to listen on one interface in a real pod.
 */
knownImages.redis = {
  kind: 'host-command',
  user: 999,
  program: '/usr/bin/redis-check-rdb',
  tool: 'redis',
  defaultCommand: ['redis-server'],
  aliases: { 'redis-server': '/usr/bin/redis-check-rdb' },
};

/**
 * Docker's official HAProxy image (a personal intercept's router): this machine's HAProxy
 * (Debian's `haproxy`, the same 2.6 LTS branch), run as the image's `haproxy` account, uid 99.
 */
knownImages.haproxy = {
  kind: 'host-command',
  user: 99,
  program: '/usr/sbin/haproxy',
  tool: 'haproxy',
  defaultCommand: ['haproxy', '-f', '/usr/local/etc/haproxy/haproxy.cfg'],
  workingDirectory: '/var/lib/haproxy',
};

/** The repository part of an image reference: `docker.io/library/x:1@sha256:…` → `x`. */
export function imageRepository(reference: string): string {
  let name = reference.split('@')[0] ?? '';
  const lastSlash = name.lastIndexOf('/');
  const tagColon = name.lastIndexOf(':');
  if (tagColon > lastSlash) name = name.slice(0, tagColon);
  return name.replace(/^docker\.io\//, '').replace(/^library\//, '');
}

export function resolveImage(reference: string): ImageRuntime | undefined {
  return knownImages[imageRepository(reference)];
}
