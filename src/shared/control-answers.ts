/**
 * What the running instance answers with over the control protocol (`control-protocol.ts`): its
 * tunnels, status, list and a workload's environment. Loose where a newer instance may add
 * fields, since `list --json` and `status --json` are contracts that only grow.
 */
import { z } from 'zod';
import {
  exposeModes,
  exposeStates,
  forwardStates,
  portForwardTransports,
  type TunnelStatus,
} from './tunnel-status';

const counters = z.looseObject({
  connections: z.number(),
  activeConnections: z.number(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  reconnects: z.number(),
  retries: z.number().optional(),
  failures: z.number().optional(),
  stalls: z.number().optional(),
});

/** Loose: a newer instance may add fields (`list --json` is a contract that only grows). */
export const tunnelStatusSchema = z.looseObject({
  context: z.string(),
  kind: z.enum(['forward', 'expose']),
  namespace: z.string(),
  name: z.string(),
  status: z.enum([...forwardStates, ...exposeStates]),
  reason: z.string(),
  endpoint: z.string().nullable(),
  ip: z.string().nullable(),
  hostnames: z.array(z.string()),
  ports: z.array(
    z.looseObject({
      port: z.number(),
      targetPort: z.union([z.number(), z.string()]),
      protocol: z.enum(['TCP', 'UDP', 'SCTP']),
    }),
  ),
  counters,
  lastError: z.string().nullable(),
  lastChange: z.string(),
  transport: z.enum(portForwardTransports).nullable().optional(),
  mode: z.enum(exposeModes).optional(),
  route: z.object({ header: z.string(), value: z.string(), sharedWith: z.array(z.string()) }).optional(),
});
/** A tunnel as read: loose in what it accepts, the shared model in what it gives. */
export const tunnelSchema = tunnelStatusSchema.transform((value) => value as TunnelStatus);

export const environmentAnswerSchema = z.object({
  context: z.string(),
  workload: z.string(),
  container: z.string(),
  pod: z.string().nullable(),
  variables: z.array(
    z.object({
      name: z.string(),
      value: z.string(),
      from: z.enum(['value', 'configMap', 'secret', 'field', 'resource', 'service-link']),
      secret: z.boolean(),
      origin: z.string(),
    }),
  ),
  unresolved: z.array(z.object({ name: z.string(), reason: z.string() })),
  rewrites: z.array(z.object({ name: z.string(), change: z.string() })),
  /** Whether the context is connected here, so addresses could be rewritten. */
  connected: z.boolean(),
  /** Asked for with `files`: each volume file under its mount path, content in base64. */
  files: z
    .array(z.object({ path: z.string(), content: z.string(), mode: z.number().int().min(0).max(0o7777) }))
    .optional(),
});
export type EnvironmentAnswer = z.infer<typeof environmentAnswerSchema>;

export const instanceKinds = ['app', 'harness', 'daemon', 'foreground'] as const;
export type InstanceKind = (typeof instanceKinds)[number];

export const instanceIdentitySchema = z.looseObject({
  kind: z.enum(instanceKinds),
  pid: z.number().int(),
  version: z.string(),
  stateDirectory: z.string(),
  startedAt: z.string(),
});
export type InstanceIdentity = z.infer<typeof instanceIdentitySchema>;

export const contextStatusSchema = z.looseObject({
  name: z.string(),
  server: z.string(),
  state: z.enum(['connecting', 'connected', 'degraded', 'error']),
  reason: z.string(),
  ready: z.number(),
  total: z.number(),
  /** How port-forwards reach this context's pods, once one has. */
  transport: z.enum(portForwardTransports).nullable().optional(),
});
export type ContextStatus = z.infer<typeof contextStatusSchema>;

export const helperStates = ['off', 'running', 'unavailable'] as const;

export const instanceStatusSchema = z.looseObject({
  instance: instanceIdentitySchema,
  contexts: z.array(contextStatusSchema),
  helper: z.looseObject({ state: z.enum(helperStates), reason: z.string() }),
  /** Tunnels by status, e.g. `{ running: 12, skipped: 2 }`. */
  counts: z.record(z.string(), z.number()),
  ipRange: z.string().nullable(),
  /** Each expose: how it takes its Service, and a personal intercept's route and companions. */
  exposes: z
    .array(
      z.object({
        context: z.string(),
        namespace: z.string(),
        name: z.string(),
        status: z.string(),
        mode: z.enum(exposeModes).optional(),
        route: z
          .object({ header: z.string(), value: z.string(), sharedWith: z.array(z.string()) })
          .optional(),
      }),
    )
    .optional(),
});
export type InstanceStatus = z.infer<typeof instanceStatusSchema>;

export const listResultSchema = z.object({
  tunnels: z.array(tunnelSchema),
  health: z.object({ state: z.string(), reason: z.string() }),
  pid: z.number(),
  stats: z
    .object({
      hostsWrites: z.number(),
      timings: z.object({
        startedAt: z.number(),
        firstListAt: z.number().optional(),
        readyAt: z.number().optional(),
      }),
    })
    .optional(),
  /** With LOCALIZER_DIAGNOSTICS=1: event-loop delay and GC pauses since the last list. */
  diagnostics: z
    .object({
      eventLoopDelayMs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }),
      gc: z.object({ count: z.number(), totalMs: z.number(), maxMs: z.number() }),
    })
    .optional(),
});
export type ListResult = z.output<typeof listResultSchema>;
