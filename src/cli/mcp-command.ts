/**
 * `localizer mcp [--allow-secret-values]`: the MCP server on stdin/stdout (stdout is the
 * protocol's, so nothing else may be printed there), and `localizer mcp install CLIENT [--print]`.
 */
import { realpathSync } from 'node:fs';
import { stateDirectory } from '../main/engine/state-directory';
import { clientConfig, installMcpEntry, mcpClients, printedEntry, type McpClient } from '../mcp/mcp-install';
import { cliVersion } from './cli-version';
import { kubeSource } from './kube-source';
import { UsageError } from './usage-error';

export async function runMcpServer(options: { allowSecretValues: boolean }): Promise<number> {
  // The SDK is loaded for the server only: `mcp install` is a file edit.
  const [{ StdioServerTransport }, { createLocalizerMcpServer }] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/stdio.js'),
    import('../mcp/localizer-mcp-server'),
  ]);
  const server = createLocalizerMcpServer({
    stateDirectory: stateDirectory(),
    source: kubeSource(undefined),
    allowSecretValues: options.allowSecretValues,
    version: cliVersion(),
  });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    // The client went away: stdin ends, and so does this server.
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
  return 0;
}

export function runMcpInstall(
  options: { client: string | undefined; print: boolean; allowSecretValues: boolean },
  print: (line: string) => void,
): number {
  if (!options.client || !(mcpClients as readonly string[]).includes(options.client))
    throw new UsageError(
      `mcp install takes one of ${mcpClients.join(', ')}, e.g. \`localizer mcp install cursor\`.`,
    );
  const client = options.client as McpClient;
  // This very command, as it was started (node, its flags, the localizer script).
  const script = process.argv[1] ? realpathSync(process.argv[1]) : 'localizer';
  const state = process.env.LOCALIZER_STATE_DIR;
  const config = clientConfig(client, {
    command: process.execPath,
    args: [
      ...process.execArgv,
      script,
      'mcp',
      ...(options.allowSecretValues ? ['--allow-secret-values'] : []),
    ],
    ...(state ? { env: { LOCALIZER_STATE_DIR: state } } : {}),
  });
  if (options.print) {
    print(`Add this to ${config.path}:`);
    print(printedEntry(config));
    return 0;
  }
  const outcome = installMcpEntry(config);
  print(
    outcome === 'unchanged'
      ? `${config.path} already starts Localizer's MCP server; nothing changed.`
      : `${outcome === 'added' ? 'Added' : 'Updated'} the localizer server in ${config.path}; other entries were kept. Restart ${client === 'vscode' ? 'VS Code' : client === 'claude' ? 'Claude Code' : 'Cursor'} (or reload its MCP servers) to use it.`,
  );
  return 0;
}
