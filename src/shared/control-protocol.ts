/**
 * The control protocol: how `localizer` commands drive the one running instance (the app, the
 * browser harness, `localizer daemon`, or a foreground `connect`/`expose`) over the 0600 Unix
 * socket in the state directory. One request line, then any number of progress or event lines,
 * then one answer line; every line is JSON, carries the protocol version, and is checked against
 * these schemas at both ends. Nothing here is trusted because it came from our own CLI: the
 * socket is the user's, but a request is still untrusted input.
 */
import { z } from 'zod';
import { apiArgumentSchemas, routeHeaderSchema, type ApiCallName } from './api';
import { exposeModes, exposeStates, forwardStates } from './tunnel-status';
import {
  environmentAnswerSchema,
  instanceStatusSchema,
  listResultSchema,
  tunnelSchema,
} from './control-answers';

export const controlProtocolVersion = 1;
/** A request line longer than this is refused unread: no real request comes near it. */
export const maxRequestBytes = 64 * 1024;
/** An answer (1000 services listed is about 1 MB) longer than this is refused by the client. */
export const maxAnswerBytes = 64 * 1024 * 1024;

export const kubeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'not a valid Kubernetes name')
  .max(253);
/** Context names come from kubeconfigs and may hold almost anything but control characters. */
const contextName = z
  .string()
  .min(1)
  .max(253)
  .refine((name) => !/\p{Cc}/u.test(name), 'a context name has no control characters');
const filePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((path) => !path.includes('\u0000'), 'a path has no NUL');
const port = z.number().int().min(1, 'a port is 1-65535').max(65535, 'a port is 1-65535');

/** Which kubeconfig the asking command would use, so the instance reads the same files. */
export const kubeSourceSchema = z.strictObject({
  kubeconfig: filePath.optional(),
  /** The asking command's `KUBECONFIG` (a path list). */
  kubeconfigEnv: z.string().max(65_536).optional(),
});

const sshImageSchema = z.strictObject({
  image: z.string().min(1).max(512),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'not an account name'),
  uid: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1),
});

export const connectRequestSchema = z.strictObject({
  op: z.literal('connect'),
  source: kubeSourceSchema,
  /** Contexts to connect; empty means the kubeconfig's current context. */
  contexts: z.array(contextName).max(32),
  namespaces: z.array(kubeName).max(256).optional(),
  excludeNamespaces: z.array(kubeName).max(256).optional(),
  clusterDomain: z.string().min(1).max(253).optional(),
  ipRange: z.string().min(1).max(32).optional(),
  names: z.boolean(),
  relays: z.boolean().optional(),
  relayImage: z.string().min(1).max(512).optional(),
});

export const disconnectRequestSchema = z.strictObject({
  op: z.literal('disconnect'),
  /** Empty: every connected context. */
  contexts: z.array(contextName).max(32),
});

export const exposeRequestSchema = z.strictObject({
  op: z.literal('expose'),
  source: kubeSourceSchema,
  context: contextName.optional(),
  namespace: kubeName,
  service: kubeName,
  /** Empty: each service port to the same local port. */
  mappings: z.array(z.strictObject({ localPort: port, remote: z.union([kubeName, port]) })).max(64),
  image: sshImageSchema.optional(),
  mode: z.enum(exposeModes).optional(),
  /** A personal intercept: only requests carrying this header value reach the laptop. */
  header: routeHeaderSchema.optional(),
});

export const unexposeRequestSchema = z.strictObject({
  op: z.literal('unexpose'),
  context: contextName.optional(),
  namespace: kubeName,
  service: kubeName,
});

export const environmentRequestSchema = z.strictObject({
  op: z.literal('environment'),
  source: kubeSourceSchema,
  context: contextName.optional(),
  namespace: kubeName,
  /** `deploy/NAME`, `sts/NAME`, `pod/NAME` or a service's name. */
  workload: z
    .string()
    .regex(/^([a-z]+\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'not KIND/NAME or a name')
    .max(300),
  container: kubeName.optional(),
  files: z.boolean().optional(),
});

const requestSchemas = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('status') }),
  z.strictObject({ op: z.literal('list') }),
  /** Drops, recoveries and tunnels gone lately (`localizer mcp`'s event history). */
  z.strictObject({ op: z.literal('history') }),
  /** Streams `tunnels` events on every change until the asking side hangs up. */
  z.strictObject({ op: z.literal('watch') }),
  connectRequestSchema,
  disconnectRequestSchema,
  exposeRequestSchema,
  unexposeRequestSchema,
  z.strictObject({
    op: z.literal('cleanup'),
    source: kubeSourceSchema,
    context: contextName.optional(),
    force: z.boolean(),
  }),
  environmentRequestSchema,
  /** Any call the window can make, with the window's own argument schemas. */
  z.strictObject({
    op: z.literal('api'),
    method: z.enum(Object.keys(apiArgumentSchemas) as [ApiCallName, ...ApiCallName[]]),
    args: z.array(z.unknown()).max(4),
  }),
]);

export type ControlRequest = z.infer<typeof requestSchemas>;
export type ControlOp = ControlRequest['op'];
export type ConnectRequest = z.infer<typeof connectRequestSchema>;
export type KubeSource = z.infer<typeof kubeSourceSchema>;
export type TunnelEventRecord = z.infer<typeof resultSchemas.history>['events'][number];

/** What each operation answers with, when it succeeds. */
export const resultSchemas = {
  status: instanceStatusSchema,
  list: listResultSchema,
  watch: z.looseObject({ message: z.string() }),
  history: z.object({
    events: z.array(
      z.looseObject({
        at: z.string(),
        context: z.string(),
        kind: z.enum(['forward', 'expose']),
        namespace: z.string(),
        name: z.string(),
        from: z.enum([...forwardStates, ...exposeStates]),
        to: z.enum([...forwardStates, ...exposeStates, 'gone']),
        reason: z.string(),
      }),
    ),
  }),
  connect: z.looseObject({
    message: z.string(),
    /** `; 2 wait for a ready pod (…)`: what is left for the cluster, or empty. */
    settled: z.string(),
    status: instanceStatusSchema,
  }),
  disconnect: z.looseObject({ message: z.string(), contexts: z.array(z.string()) }),
  expose: z.looseObject({ message: z.string(), tunnel: tunnelSchema }),
  unexpose: z.looseObject({ message: z.string() }),
  environment: environmentAnswerSchema,
  cleanup: z.looseObject({
    context: z.string(),
    done: z.array(z.string()),
    skipped: z.array(z.string()),
    failed: z.array(z.string()),
  }),
  api: z.unknown(),
} satisfies Record<ControlOp, z.ZodType>;

export type ControlResult<Op extends ControlOp> = z.infer<(typeof resultSchemas)[Op]>;

export const controlErrorCodes = ['bad-request', 'version', 'too-large', 'refused', 'internal'] as const;
export type ControlErrorCode = (typeof controlErrorCodes)[number];

/** One line from the instance. */
export const controlLineSchema = z.union([
  z.strictObject({ v: z.number(), progress: z.string().max(4096) }),
  z.strictObject({ v: z.number(), event: listResultSchema }),
  z.strictObject({ v: z.number(), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({
    v: z.number(),
    ok: z.literal(false),
    code: z.enum(controlErrorCodes),
    message: z.string(),
  }),
]);
export type ControlLine = z.infer<typeof controlLineSchema>;

/** Checks one request line; the refusal says what was wrong, in words for the person who sent it. */
export function parseControlRequest(
  line: string,
): { ok: true; request: ControlRequest } | { ok: false; code: ControlErrorCode; message: string } {
  if (new TextEncoder().encode(line).length > maxRequestBytes)
    return {
      ok: false,
      code: 'too-large',
      message: `The request is over ${String(maxRequestBytes / 1024)} KiB; no control request is that long.`,
    };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, code: 'bad-request', message: 'The request is not JSON.' };
  }
  const version = (value as { v?: unknown } | null)?.v;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, code: 'bad-request', message: 'The request is not a JSON object.' };
  if (version !== controlProtocolVersion)
    return {
      ok: false,
      code: 'version',
      message: `The request speaks control protocol ${JSON.stringify(version ?? null)}, and this Localizer speaks ${String(controlProtocolVersion)}. Use the localizer command of the same version as the running Localizer, or restart it with this one.`,
    };
  const { v: _version, ...fields } = value as Record<string, unknown>;
  const parsed = requestSchemas.safeParse(fields);
  if (!parsed.success)
    return {
      ok: false,
      code: 'bad-request',
      message: `The request is not valid: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || 'request'}: ${i.message}`)
        .join('; ')}.`,
    };
  return { ok: true, request: parsed.data };
}
