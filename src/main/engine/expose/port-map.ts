/**
 * Which service ports an expose carries, and to which local port: `--map LOCAL:REMOTE`, where
 * REMOTE is a service port's name or number, or by default every TCP service port to the same
 * port number on the laptop. Named target ports are resolved from the pod templates of the
 * workloads that serve the service today, so the SSH pod declares the same container ports.
 */
import type * as k8s from '@kubernetes/client-node';
import { ExposeRefusedError } from './expose-refused-error';

export interface PortMapping {
  /** `3000` in `--map 3000:http`. */
  localPort: number;
  /** A service port's name or number. */
  remote: string | number;
}

export interface ExposedPort {
  /** The service port callers use. */
  servicePort: number;
  servicePortName?: string;
  /** The pod port the service sends traffic to; the SSH pod listens there. */
  targetPort: number;
  /** Set when the service names its target port: the SSH pod declares a container port of this name. */
  targetPortName?: string;
  localPort: number;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** Parses `LOCAL:REMOTE`; the message says what a valid mapping looks like. */
export function parsePortMapping(text: string): PortMapping {
  const match = /^(\d+):([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(text.trim());
  const localPort = match ? Number(match[1]) : NaN;
  if (!match?.[2] || !isPort(localPort)) {
    throw new ExposeRefusedError(
      `--map ${JSON.stringify(text)} is not LOCAL:REMOTE. LOCAL is a port on this machine (1-65535); REMOTE is a service port's name or number, e.g. --map 3000:http or --map 3000:80.`,
    );
  }
  const remote = /^\d+$/.test(match[2]) ? Number(match[2]) : match[2];
  return { localPort, remote };
}

/** The number behind a named container port in any of the workloads' pod templates. */
function containerPortNumber(templates: readonly k8s.V1PodTemplateSpec[], name: string): number | undefined {
  for (const template of templates) {
    for (const container of template.spec?.containers ?? []) {
      const port = container.ports?.find((p) => p.name === name);
      if (port) return port.containerPort;
    }
  }
  return undefined;
}

/**
 * The ports to expose. Refuses a mapping that names no TCP port of the service, a local port used
 * twice, and a named target port no serving workload declares.
 */
export function resolveExposedPorts(
  service: k8s.V1Service,
  templates: readonly k8s.V1PodTemplateSpec[],
  mappings: readonly PortMapping[],
): ExposedPort[] {
  const id = `${service.metadata?.namespace ?? ''}/${service.metadata?.name ?? ''}`;
  const ports = service.spec?.ports ?? [];
  const tcp = ports.filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  const describe = (): string =>
    tcp.map((p) => (p.name ? `${p.name} (${String(p.port)})` : String(p.port))).join(', ') || 'none';
  const chosen =
    mappings.length === 0
      ? tcp.map((port) => ({ port, localPort: port.port }))
      : mappings.map((mapping) => {
          const port = tcp.find((p) => p.name === mapping.remote || p.port === mapping.remote);
          if (!port) {
            const other = ports.find((p) => p.name === mapping.remote || p.port === mapping.remote);
            throw new ExposeRefusedError(
              other
                ? `${id} port ${String(mapping.remote)} is ${other.protocol ?? 'TCP'}; an SSH tunnel carries TCP only.`
                : `${id} has no port ${JSON.stringify(mapping.remote)}. Its TCP ports are: ${describe()}.`,
            );
          }
          return { port, localPort: mapping.localPort };
        });
  if (chosen.length === 0) throw new ExposeRefusedError(`${id} has no TCP port to expose.`);
  const locals = chosen.map((c) => c.localPort);
  const twice = locals.find((port, index) => locals.indexOf(port) !== index);
  if (twice !== undefined)
    throw new ExposeRefusedError(
      `Local port ${String(twice)} is mapped twice; give each service port its own.`,
    );
  return chosen.map(({ port, localPort }) => {
    const target = port.targetPort ?? port.port;
    let targetPort: number;
    if (typeof target === 'number' || /^\d+$/.test(target)) targetPort = Number(target);
    else {
      const resolved = containerPortNumber(templates, target);
      if (resolved === undefined) {
        throw new ExposeRefusedError(
          `${id} sends port ${String(port.port)} to the container port named "${target}", but no workload behind it declares that name, so Localizer cannot tell which port its pod should listen on.`,
        );
      }
      targetPort = resolved;
    }
    return {
      servicePort: port.port,
      ...(port.name ? { servicePortName: port.name } : {}),
      targetPort,
      ...(typeof target === 'string' && !/^\d+$/.test(target) ? { targetPortName: target } : {}),
      localPort,
    };
  });
}
