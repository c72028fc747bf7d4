/** Server-side printing: the `meta.k8s.io/v1 Table` that `kubectl get` asks for and prints as columns. */
import { field, type KubeObject } from './objects';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  description: string;
  priority?: number;
}

type Row = (object: KubeObject, now: Date) => unknown[];

/** Kubernetes' short age format: 45s, 5m3s, 50m, 7h, 3d. */
export function humanAge(since: string | undefined, now: Date): string {
  if (!since) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

const nameColumn: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
};
const ageColumn: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
};

function age(object: KubeObject, now: Date): string {
  return humanAge(object.metadata.creationTimestamp, now);
}

function number(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function servicePorts(object: KubeObject): string {
  const ports = field(object, 'spec', 'ports');
  if (!Array.isArray(ports) || ports.length === 0) return '<none>';
  return ports
    .map((port: { port?: number; protocol?: string; nodePort?: number }) =>
      port.nodePort ? `${port.port}:${port.nodePort}/${port.protocol}` : `${port.port}/${port.protocol}`,
    )
    .join(',');
}

function podReady(object: KubeObject): string {
  const statuses = field(object, 'status', 'containerStatuses');
  const containers = field(object, 'spec', 'containers');
  const total = Array.isArray(containers) ? containers.length : 0;
  const ready = Array.isArray(statuses) ? statuses.filter((s: { ready?: boolean }) => s.ready).length : 0;
  return `${ready}/${total}`;
}

function podStatus(object: KubeObject): string {
  if (object.metadata.deletionTimestamp) return 'Terminating';
  const statuses = field(object, 'status', 'containerStatuses');
  if (Array.isArray(statuses)) {
    for (const status of statuses as {
      state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
    }[]) {
      const reason = status.state?.waiting?.reason ?? status.state?.terminated?.reason;
      if (reason) return reason;
    }
  }
  const phase = field(object, 'status', 'phase');
  return typeof phase === 'string' ? phase : 'Unknown';
}

function podRestarts(object: KubeObject): number {
  const statuses = field(object, 'status', 'containerStatuses');
  if (!Array.isArray(statuses)) return 0;
  return (statuses as { restartCount?: number }[]).reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
}

const tables: Record<string, { columns: Column[]; row: Row }> = {
  Pod: {
    columns: [
      nameColumn,
      {
        name: 'Ready',
        type: 'string',
        description: 'The aggregate readiness state of this pod for accepting traffic.',
      },
      { name: 'Status', type: 'string', description: 'The aggregate status of the containers in this pod.' },
      {
        name: 'Restarts',
        type: 'string',
        description: 'The number of times the containers in this pod have been restarted.',
      },
      ageColumn,
      { name: 'IP', type: 'string', priority: 1, description: 'The IP address assigned to the pod' },
      {
        name: 'Node',
        type: 'string',
        priority: 1,
        description: 'The name of the node the pod is assigned to',
      },
    ],
    row: (o, now) => [
      o.metadata.name,
      podReady(o),
      podStatus(o),
      String(podRestarts(o)),
      age(o, now),
      field(o, 'status', 'podIP') ?? '<none>',
      field(o, 'spec', 'nodeName') ?? '<none>',
    ],
  },
  Service: {
    columns: [
      nameColumn,
      { name: 'Type', type: 'string', description: 'The type of the service.' },
      { name: 'Cluster-IP', type: 'string', description: 'The cluster IP of the service.' },
      { name: 'External-IP', type: 'string', description: 'The external IP of the service.' },
      { name: 'Port(s)', type: 'string', description: 'The ports of the service.' },
      ageColumn,
      { name: 'Selector', type: 'string', priority: 1, description: 'The selector of the service.' },
    ],
    row: (o, now) => {
      const selector = field(o, 'spec', 'selector') as Record<string, string> | undefined;
      return [
        o.metadata.name,
        field(o, 'spec', 'type'),
        field(o, 'spec', 'clusterIP') ?? '<none>',
        field(o, 'spec', 'externalName') ?? '<none>',
        servicePorts(o),
        age(o, now),
        selector
          ? Object.entries(selector)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')
          : '<none>',
      ];
    },
  },
  Deployment: {
    columns: [
      nameColumn,
      { name: 'Ready', type: 'string', description: 'Number of the pod with ready state.' },
      {
        name: 'Up-to-date',
        type: 'integer',
        description:
          'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      },
      {
        name: 'Available',
        type: 'integer',
        description:
          'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      },
      ageColumn,
    ],
    row: (o, now) => [
      o.metadata.name,
      `${number(field(o, 'status', 'readyReplicas'))}/${number(field(o, 'spec', 'replicas'))}`,
      number(field(o, 'status', 'updatedReplicas')),
      number(field(o, 'status', 'availableReplicas')),
      age(o, now),
    ],
  },
  StatefulSet: {
    columns: [
      nameColumn,
      { name: 'Ready', type: 'string', description: 'Number of the pod with ready state.' },
      ageColumn,
    ],
    row: (o, now) => [
      o.metadata.name,
      `${number(field(o, 'status', 'readyReplicas'))}/${number(field(o, 'spec', 'replicas'))}`,
      age(o, now),
    ],
  },
  ReplicaSet: {
    columns: [
      nameColumn,
      { name: 'Desired', type: 'integer', description: 'Number of desired pods.' },
      { name: 'Current', type: 'integer', description: 'Number of actual replicas.' },
      { name: 'Ready', type: 'integer', description: 'The number of ready replicas for this replica set.' },
      ageColumn,
    ],
    row: (o, now) => [
      o.metadata.name,
      number(field(o, 'spec', 'replicas')),
      number(field(o, 'status', 'replicas')),
      number(field(o, 'status', 'readyReplicas')),
      age(o, now),
    ],
  },
  Namespace: {
    columns: [
      nameColumn,
      { name: 'Status', type: 'string', description: 'The status of the namespace' },
      ageColumn,
    ],
    row: (o, now) => [o.metadata.name, field(o, 'status', 'phase') ?? 'Active', age(o, now)],
  },
  Endpoints: {
    columns: [
      nameColumn,
      { name: 'Endpoints', type: 'string', description: 'Endpoints of the service' },
      ageColumn,
    ],
    row: (o, now) => {
      const subsets = (field(o, 'subsets') ?? []) as {
        addresses?: { ip: string }[];
        ports?: { port: number }[];
      }[];
      const pairs = subsets.flatMap((s) =>
        (s.addresses ?? []).flatMap((a) => (s.ports ?? []).map((p) => `${a.ip}:${p.port}`)),
      );
      return [o.metadata.name, pairs.length > 0 ? pairs.join(',') : '<none>', age(o, now)];
    },
  },
  // As kube-apiserver prints them: up to 3 addresses, then how many more.
  EndpointSlice: {
    columns: [
      nameColumn,
      { name: 'AddressType', type: 'string', description: 'The address type of the endpoints' },
      { name: 'Ports', type: 'string', description: 'The ports of the endpoints' },
      { name: 'Endpoints', type: 'string', description: 'The addresses of the endpoints' },
      ageColumn,
    ],
    row: (o, now) => {
      const ports = ((field(o, 'ports') ?? []) as { port?: number }[]).map((p) =>
        p.port === undefined ? '<unset>' : String(p.port),
      );
      const addresses = ((field(o, 'endpoints') ?? []) as { addresses?: string[] }[]).flatMap(
        (e) => e.addresses ?? [],
      );
      const shown = addresses.slice(0, 3).join(',');
      const more = addresses.length > 3 ? ` + ${String(addresses.length - 3)} more...` : '';
      return [
        o.metadata.name,
        field(o, 'addressType') ?? '',
        ports.length > 0 ? ports.join(',') : '<unset>',
        addresses.length > 0 ? `${shown}${more}` : '<unset>',
        age(o, now),
      ];
    },
  },
};

const genericTable = {
  columns: [nameColumn, ageColumn],
  row: (o: KubeObject, now: Date) => [o.metadata.name, age(o, now)],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Builds a Table of `objects`; `withColumns` is false for watch events after the first. */
export function toTable(
  kind: string,
  objects: KubeObject[],
  options: { resourceVersion?: string; includeObject: IncludeObject; withColumns: boolean; now?: Date },
): Record<string, unknown> {
  const table = tables[kind] ?? genericTable;
  const now = options.now ?? new Date();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: options.resourceVersion ? { resourceVersion: options.resourceVersion } : {},
    columnDefinitions: options.withColumns
      ? table.columns.map((c) => ({ format: '', priority: 0, ...c }))
      : [],
    rows: objects.map((object) => ({
      cells: table.row(object, now),
      ...(options.includeObject === 'None'
        ? {}
        : {
            object:
              options.includeObject === 'Object'
                ? object
                : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata },
          }),
    })),
  };
}

/** Whether the `Accept` header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  return accept?.split(',').some((part) => part.includes('as=Table')) ?? false;
}
