/** What every MCP tool answers: its result as text and structured content, or an error the agent reads. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { EnvironmentAnswer } from '../shared/control-answers';
import type { TunnelStatus } from '../shared/tunnel-status';

/** A tool's answer: text for the model, the same as structured content for clients that read it. */
export function answer(value: Record<string, unknown>, text?: string): CallToolResult {
  return {
    content: [{ type: 'text', text: text ?? JSON.stringify(value, null, 2) }],
    structuredContent: value,
  };
}

export function failure(error: unknown): CallToolResult {
  const message = error instanceof Error ? error.message : String(error);
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** Runs a tool's request; a refusal or "not running" becomes an error result the agent can read. */
export async function attempt(work: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await work();
  } catch (error) {
    // Every refusal (not running, a bad file, the cluster's no) is the agent's to read.
    if (error instanceof Error) return failure(error);
    throw error;
  }
}

/** A tunnel as an agent needs it to pick one: no counters or timings. */
export function row(tunnel: TunnelStatus) {
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

/** The environment with each Secret's value replaced by where it comes from, unless allowed. */
export function withheldSecrets(environment: EnvironmentAnswer, allowed: boolean): Record<string, unknown> {
  const { files: _files, ...rest } = environment;
  if (allowed) return rest;
  return {
    ...rest,
    variables: environment.variables.map((v) =>
      v.secret ? { ...v, value: `(withheld: from ${v.origin}; the user has not allowed Secret values)` } : v,
    ),
  };
}
