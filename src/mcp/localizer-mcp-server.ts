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
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { resolve } from 'node:path';
import {
  ControlError,
  notRunningMessage,
  requestControl,
  runningInstance,
} from '../main/engine/control/control-client';
import { bringDown, bringUp, preparePlan } from '../main/engine/project/project-control';
import { defaultProjectFileName, readProjectFile } from '../main/engine/project/project-file-reader';
import {
  connectRequestSchema,
  disconnectRequestSchema,
  environmentRequestSchema,
  exposeRequestSchema,
  kubeName,
  unexposeRequestSchema,
  type EnvironmentAnswer,
  type KubeSource,
} from '../shared/control-protocol';
import { exposeStates, forwardStates, type TunnelStatus } from '../shared/tunnel-status';

export interface LocalizerMcpOptions {
  /** The state directory of the instance to drive (the user's, unless LOCALIZER_STATE_DIR says). */
  stateDirectory: string;
  /** Which kubeconfig the instance reads for connect, expose and environment (this process's). */
  source: KubeSource;
  /** The user allowed values from Secrets to reach the agent. */
  allowSecretValues: boolean;
  version: string;
}

/** A tool's answer: text for the model, the same as structured content for clients that read it. */
function answer(value: Record<string, unknown>, text?: string): CallToolResult {
  return {
    content: [{ type: 'text', text: text ?? JSON.stringify(value, null, 2) }],
    structuredContent: value,
  };
}

function failure(error: unknown): CallToolResult {
  const message = error instanceof Error ? error.message : String(error);
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** Runs a tool's request; a refusal or "not running" becomes an error result the agent can read. */
async function attempt(work: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await work();
  } catch (error) {
    // Every refusal (not running, a bad file, the cluster's no) is the agent's to read.
    if (error instanceof Error) return failure(error);
    throw error;
  }
}

/** A tunnel as an agent needs it to pick one: no counters or timings. */
function row(tunnel: TunnelStatus) {
  return {
    context: tunnel.context,
    kind: tunnel.kind,
    namespace: tunnel.namespace,
    name: tunnel.name,
    status: tunnel.status,
    reason: tunnel.reason,
    address: tunnel.ip,
    hostnames: tunnel.hostnames,
    ports: tunnel.ports.map((p) => `${String(p.port)}/${p.protocol}`),
    ...(tunnel.mode ? { mode: tunnel.mode } : {}),
    ...(tunnel.route ? { route: tunnel.route } : {}),
  };
}

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

  const projectInput = z.strictObject({
    file: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(`the project file; default: ${defaultProjectFileName} in the server's working directory`),
  });
  const project = (file: string | undefined) => readProjectFile(resolve(file ?? defaultProjectFileName));

  server.registerTool(
    'project_plan',
    {
      title: 'Plan a project file',
      description: `What \`localizer up\` of a project file (${defaultProjectFileName}) would change now: contexts and namespaces to connect, services to expose, processes to run, what is already as the file says, and what \`down\` would undo. Changes nothing.`,
      inputSchema: projectInput,
      annotations: { readOnlyHint: true },
    },
    (input) =>
      attempt(async () => {
        const prepared = await preparePlan(options.stateDirectory, project(input.file));
        return answer({ changes: prepared.changes, plan: prepared.lines }, prepared.lines.join('\n'));
      }),
  );

  server.registerTool(
    'project_up',
    {
      title: 'Bring a project file up',
      description:
        "Carries out a project file's plan in the running Localizer: connects, exposes, and records it for project_down. Its `run:` processes are not started from here (they need a terminal): the answer says how to start them.",
      inputSchema: projectInput,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const loaded = project(input.file);
        if (!runningInstance(options.stateDirectory))
          return failure(new ControlError(notRunningMessage(options.stateDirectory), 'not-running'));
        const steps: string[] = [];
        const prepared = await bringUp(options.stateDirectory, loaded, {
          source: options.source,
          print: (line) => steps.push(line),
        });
        const said = [...prepared.lines, ...steps];
        const runs = loaded.file.run ?? [];
        if (runs.length > 0 && !prepared.processesElsewhere)
          said.push(
            `Not started from here: ${runs.map((r) => r.name).join(', ')}. Run \`localizer up -f ${loaded.path}\` in a terminal to run them with their workloads' environment.`,
          );
        said.push(prepared.plan.changes ? 'Up.' : 'Everything was already up as the file says.');
        return answer({ changed: prepared.plan.changes, log: said }, said.join('\n'));
      }),
  );

  server.registerTool(
    'project_down',
    {
      title: 'Bring a project file down',
      description:
        'Undoes what `localizer up` (or project_up) of the file did, and nothing else; stops the processes of the `up` that runs them.',
      inputSchema: projectInput,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const path = resolve(input.file ?? defaultProjectFileName);
        const said: string[] = [];
        const down = await bringDown(options.stateDirectory, path, (line) => said.push(line));
        if (!down)
          return answer(
            { message: `Nothing to bring down: no up of ${path} is recorded.` },
            `Nothing to bring down: no up of ${path} is recorded.`,
          );
        if (down.failures.length > 0) return failure(new Error(said.join('\n')));
        said.push(`Down: ${path} is undone.`);
        return answer({ log: said }, said.join('\n'));
      }),
  );

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

/** The environment with each Secret's value replaced by where it comes from, unless allowed. */
function withheldSecrets(environment: EnvironmentAnswer, allowed: boolean): Record<string, unknown> {
  const { files: _files, ...rest } = environment;
  if (allowed) return rest;
  return {
    ...rest,
    variables: environment.variables.map((v) =>
      v.secret ? { ...v, value: `(withheld: from ${v.origin}; the user has not allowed Secret values)` } : v,
    ),
  };
}
