/**
 * The privileged helper's protocol, shared by the helper and the engine's client: newline-delimited
 * JSON over a Unix socket. The first request of a connection must be `hello` with the launch token.
 * Every request is validated here, with bounds, before the helper looks at it.
 */
import { z } from 'zod';
import { hostnameProblem } from './hostnames';

export const helperProtocolVersion = 1;

/** One line of the managed hosts block: an address and its names. */
export interface HostsEntry {
  ip: string;
  names: readonly string[];
}

/** Bounds that keep one request from making the root process do unbounded work. */
export const helperLimits = {
  maxFrameBytes: 4 * 1024 * 1024,
  maxEntries: 20_000,
  maxNamesPerEntry: 64,
  maxRelays: 4_096,
} as const;

const ipv4 = z
  .string()
  .regex(
    /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
    'must be an IPv4 address like 127.77.0.1',
  );

/** A hosts line's address: IPv4, or IPv4-mapped IPv6 (`::ffff:127.77.0.1`) for the IPv6 lookup. */
const hostsAddress = z
  .string()
  .regex(
    /^(::ffff:)?(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
    'must be an IPv4 address like 127.77.0.1, or IPv4-mapped IPv6 like ::ffff:127.77.0.1',
  );

const hostname = z.string().superRefine((name, context) => {
  const problem = hostnameProblem(name);
  if (problem)
    context.addIssue({
      code: 'custom',
      message: `host name ${JSON.stringify(name.slice(0, 80))} ${problem}`,
    });
});

const requestId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const helperRequestSchema = z.discriminatedUnion('op', [
  z
    .object({
      id: requestId,
      op: z.literal('hello'),
      version: z.number().int(),
      token: z.string().min(1).max(256),
    })
    .strict(),
  z.object({ id: requestId, op: z.literal('ping') }).strict(),
  z
    .object({
      id: requestId,
      op: z.literal('hosts.set'),
      entries: z
        .array(
          z
            .object({ ip: hostsAddress, names: z.array(hostname).min(1).max(helperLimits.maxNamesPerEntry) })
            .strict(),
        )
        .max(helperLimits.maxEntries),
    })
    .strict(),
  z.object({ id: requestId, op: z.literal('alias.add'), ip: ipv4 }).strict(),
  z.object({ id: requestId, op: z.literal('alias.remove'), ip: ipv4 }).strict(),
  z
    .object({
      id: requestId,
      op: z.literal('relays.set'),
      relays: z
        .array(
          z
            .object({
              ip: ipv4,
              port: z.number().int().min(1).max(1023),
              targetPort: z.number().int().min(1024).max(65535),
              /** TCP when left out, as helpers before UDP relays read it. */
              protocol: z.enum(['tcp', 'udp']).optional(),
            })
            .strict(),
        )
        .max(helperLimits.maxRelays),
    })
    .strict(),
  z.object({ id: requestId, op: z.literal('cleanup') }).strict(),
]);

export type HelperRequest = z.infer<typeof helperRequestSchema>;
export type HelperOperation = HelperRequest['op'];

export const helperErrorCodes = [
  'bad-frame',
  'invalid',
  'unauthenticated',
  'out-of-range',
  'failed',
  'version',
] as const;
export type HelperErrorCode = (typeof helperErrorCodes)[number];

export interface HelloResult {
  version: number;
  platform: string;
  pid: number;
  /** The loopback range this helper accepts addresses in. */
  range: string;
  /** Whether loopback aliases are real operations here (macOS) or no-ops (Linux). */
  aliasesNeeded: boolean;
}

export type HelperResponse =
  | { id: number | null; ok: true; result?: HelloResult | { written: boolean } | { noop: boolean } }
  | { id: number | null; ok: false; code: HelperErrorCode; message: string };
