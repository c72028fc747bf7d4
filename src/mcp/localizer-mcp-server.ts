/**
 * `localizer mcp`: a Model Context Protocol server (stdio) so coding agents can use Localizer.
 * It is one more front end of the running instance, like the CLI: every tool is one control
 * request over the user's socket, its input checked with the control protocol's own schemas. It
 * never starts an instance or the privileged helper; with none running, each tool says how to
 * start one.
 *
 * Secret values stay out of the agent's context unless the user started the server with
 * `--allow-secret-values`; they are never logged either way.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { requestControl } from '../main/engine/control/control-client';
import {
  connectRequestSchema,
  disconnectRequestSchema,
  environmentRequestSchema,
  exposeRequestSchema,
  kubeName,
  unexposeRequestSchema,
} from '../shared/control-protocol';
import { exposeStates, forwardStates } from '../shared/tunnel-status';
import type { LocalizerMcpOptions } from './mcp-options';
import { registerProjectTools } from './project-tools';
import { answer, attempt, failure, row, withheldSecrets } from './tool-results';

const listFilter = z.strictObject({
  namespace: kubeName.optional().describe('only this namespace'),
  status: z
    .enum([...new Set([...forwardStates, ...exposeStates])] as [string, ...string[]])
    .optional()
    .describe('only tunnels in this state'),
  name: z.string().max(253).optional().describe('only names containing this text'),
  kind: z.enum(['forward', 'expose']).optional().describe('forward: connect; expose: to this machine'),
});

const serviceTarget = z.strictObject({
  namespace: kubeName,
  name: kubeName,
  context: connectRequestSchema.shape.contexts.element.optional(),
});

export function createLocalizerMcpServer(options: LocalizerMcpOptions): McpServer {
  const server = new McpServer(
    { name: 'localizer', version: options.version },
    {
      instructions:
        "Localizer makes a Kubernetes cluster reachable from this machine: every Service by its in-cluster name (connect), a Service's traffic sent to a local port (expose), and a workload's environment for local processes. Use list_services to see what is reachable and healthy; service_details says why one is not.",
    },
  );
  const ask = <Op extends Parameters<typeof requestControl>[1]['op']>(
    request: Extract<Parameters<typeof requestControl>[1], { op: Op }>,
  ) => requestControl<Op>(options.stateDirectory, request);

  server.registerTool(
    'status',
    {
      title: 'Localizer status',
      description:
        'Which Localizer instance runs (app or daemon), its connected contexts and their state, whether names in /etc/hosts are on, and tunnel counts by state.',
      annotations: { readOnlyHint: true },
    },
    () => attempt(async () => answer(await ask({ op: 'status' }))),
  );

  server.registerTool(
    'list_services',
    {
      title: 'List tunnels',
      description:
        'Every forwarded Service (reachable here by name and address) and every expose, with its state and why it is not running. Filters narrow the list.',
      inputSchema: listFilter,
      annotations: { readOnlyHint: true },
    },
    (filter) =>
      attempt(async () => {
        const { tunnels } = await ask({ op: 'list' });
        const matching = tunnels.filter(
          (t) =>
            (!filter.namespace || t.namespace === filter.namespace) &&
            (!filter.status || t.status === filter.status) &&
            (!filter.kind || t.kind === filter.kind) &&
            (!filter.name || t.name.includes(filter.name)),
        );
        return answer({ count: matching.length, tunnels: matching.map(row) });
      }),
  );

  server.registerTool(
    'service_details',
    {
      title: 'One service in detail',
      description:
        "One Service's forward and expose: endpoints, ports, counters, the last error, why it is not running, and its recent drops and recoveries.",
      inputSchema: serviceTarget,
      annotations: { readOnlyHint: true },
    },
    (target) =>
      attempt(async () => {
        const [{ tunnels }, { events }] = await Promise.all([ask({ op: 'list' }), ask({ op: 'history' })]);
        const same = (t: { context: string; namespace: string; name: string }) =>
          t.namespace === target.namespace &&
          t.name === target.name &&
          (!target.context || t.context === target.context);
        const found = tunnels.filter(same);
        if (found.length === 0) {
          const inNamespace = tunnels.filter((t) => t.namespace === target.namespace).map((t) => t.name);
          return failure(
            new Error(
              `No tunnel for ${target.namespace}/${target.name}. ${
                inNamespace.length > 0
                  ? `Namespace ${target.namespace} has: ${[...new Set(inNamespace)].join(', ')}.`
                  : `Nothing in namespace ${target.namespace} is connected or exposed; connect first.`
              }`,
            ),
          );
        }
        return answer({ tunnels: found, recentEvents: events.filter(same) });
      }),
  );

  server.registerTool(
    'connect',
    {
      title: 'Connect',
      description:
        'Makes every Service of the context (or the given namespaces) reachable from this machine by its in-cluster names; returns once they are ready or says which wait for a pod. Names in /etc/hosts need the instance to run its privileged helper (the user approves it there).',
      inputSchema: connectRequestSchema
        .pick({ namespaces: true, excludeNamespaces: true, ipRange: true })
        .extend({
          names: z
            .boolean()
            .optional()
            .describe(
              'default true; false: reachable by address only, /etc/hosts untouched (no privileged helper)',
            ),
          contexts: connectRequestSchema.shape.contexts.optional().describe('default: the current context'),
        }),
      annotations: { destructiveHint: false, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const result = await ask({
          op: 'connect',
          source: options.source,
          contexts: input.contexts ?? [],
          ...(input.namespaces ? { namespaces: input.namespaces } : {}),
          ...(input.excludeNamespaces ? { excludeNamespaces: input.excludeNamespaces } : {}),
          ...(input.ipRange ? { ipRange: input.ipRange } : {}),
          names: input.names ?? true,
        });
        return answer({ message: result.message, status: result.status }, result.message);
      }),
  );

  server.registerTool(
    'disconnect',
    {
      title: 'Disconnect',
      description: 'Removes the names and forwards of these contexts (default: all) and their exposes.',
      inputSchema: disconnectRequestSchema.omit({ op: true }).partial(),
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const result = await ask({ op: 'disconnect', contexts: input.contexts ?? [] });
        return answer({ message: result.message, contexts: result.contexts }, result.message);
      }),
  );

  server.registerTool(
    'expose',
    {
      title: 'Expose a service to this machine',
      description:
        "Sends a Service's cluster traffic to ports on this machine. mode takeover (default) points the Service at a tunnel pod while its own pods keep running; scale-down scales its workloads to zero. header {name, value} makes it personal: only HTTP requests carrying that header value reach this machine, every other request keeps going to the Service's pods, and teammates can share the Service with their own values (prefer it on shared clusters). mappings: localPort and the service port's name or number (default: each service port to the same local port). Without a header, other people's calls to the Service reach this machine while it runs: expose only what the user asked for.",
      inputSchema: exposeRequestSchema.omit({ op: true, source: true, image: true }).extend({
        mappings: exposeRequestSchema.shape.mappings.optional(),
      }),
      annotations: { destructiveHint: true },
    },
    (input) =>
      attempt(async () => {
        const result = await ask({
          op: 'expose',
          source: options.source,
          ...input,
          mappings: input.mappings ?? [],
        });
        return answer({ message: result.message, tunnel: row(result.tunnel) }, result.message);
      }),
  );

  server.registerTool(
    'unexpose',
    {
      title: 'Stop exposing a service',
      description: 'Gives the Service back to its own pods and removes the tunnel pod.',
      inputSchema: unexposeRequestSchema.omit({ op: true }),
      annotations: { destructiveHint: false, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const result = await ask({ op: 'unexpose', ...input });
        return answer({ message: result.message }, result.message);
      }),
  );

  server.registerTool(
    'workload_environment',
    {
      title: "A workload's environment",
      description: `The environment variables a workload's container gets (WORKLOAD: deploy/NAME, sts/NAME, pod/NAME or a service's name), with in-cluster addresses rewritten to this machine's forwards while connected. ${
        options.allowSecretValues
          ? 'Values from Secrets are included (the user allowed it).'
          : 'Values from Secrets are withheld: the user did not allow them (`localizer mcp --allow-secret-values`).'
      }`,
      inputSchema: environmentRequestSchema.omit({ op: true, source: true, files: true }),
      annotations: { readOnlyHint: true },
    },
    (input) =>
      attempt(async () => {
        const result = await ask({ op: 'environment', source: options.source, ...input });
        return answer(withheldSecrets(result, options.allowSecretValues));
      }),
  );

  registerProjectTools(server, options);

  server.registerResource(
    'tunnels',
    'localizer://tunnels',
    {
      title: 'Tunnels',
      description: 'Every tunnel of the running Localizer and its health (as `localizer list --json`).',
      mimeType: 'application/json',
    },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify((await ask({ op: 'list' })).tunnels, null, 2),
        },
      ],
    }),
  );

  server.registerResource(
    'events',
    'localizer://events',
    {
      title: 'Tunnel events',
      description: 'Drops, recoveries and tunnels gone since the running Localizer started, oldest first.',
      mimeType: 'application/json',
    },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify((await ask({ op: 'history' })).events, null, 2),
        },
      ],
    }),
  );

  return server;
}
