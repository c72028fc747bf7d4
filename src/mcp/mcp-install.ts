/**
 * `localizer mcp install claude|cursor|vscode`: adds Localizer to a coding agent's MCP
 * configuration (or prints the entry), keeping every other entry and setting of that file as it
 * was. Each client keeps its servers in its own file and shape:
 *
 * - Claude Code: `~/.claude.json`, user scope, `mcpServers` (a file it also keeps state in);
 * - Cursor: `~/.cursor/mcp.json`, `mcpServers`;
 * - VS Code: the user profile's `mcp.json`, `servers`, each with `type: "stdio"`.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const mcpClients = ['claude', 'cursor', 'vscode'] as const;
export type McpClient = (typeof mcpClients)[number];

/** How the client starts `localizer mcp`. */
export interface McpLaunch {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

interface ClientConfig {
  /** The file, for this user on this platform. */
  path: string;
  /** The object in it that maps server names to entries. */
  key: 'mcpServers' | 'servers';
  entry: Record<string, unknown>;
}

function vscodeUserDirectory(home: string, platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string {
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'Code', 'User');
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Code', 'User');
  return join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'Code', 'User');
}

export function clientConfig(
  client: McpClient,
  launch: McpLaunch,
  where: { home?: string; platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv } = {},
): ClientConfig {
  const home = where.home ?? homedir();
  const platform = where.platform ?? process.platform;
  const env = where.env ?? process.env;
  const base = { command: launch.command, args: launch.args, ...(launch.env ? { env: launch.env } : {}) };
  switch (client) {
    case 'claude':
      return { path: join(home, '.claude.json'), key: 'mcpServers', entry: { type: 'stdio', ...base } };
    case 'cursor':
      return { path: join(home, '.cursor', 'mcp.json'), key: 'mcpServers', entry: base };
    case 'vscode':
      return {
        path: join(vscodeUserDirectory(home, platform, env), 'mcp.json'),
        key: 'servers',
        entry: { type: 'stdio', ...base },
      };
  }
}

export class McpInstallError extends Error {
  override name = 'McpInstallError';
}

/**
 * Writes `localizer` into the client's file: other servers and settings are kept, a Localizer
 * entry already there is replaced. The file is written whole to a temporary name and renamed, so
 * a client reading it never sees half of it. A file that is not a JSON object is left alone.
 */
export function installMcpEntry(config: ClientConfig): 'added' | 'updated' | 'unchanged' {
  let document: Record<string, unknown> = {};
  if (existsSync(config.path)) {
    const text = readFileSync(config.path, 'utf8');
    let parsed: unknown;
    try {
      parsed = text.trim() === '' ? {} : JSON.parse(text);
    } catch (error) {
      throw new McpInstallError(
        `${config.path} is not valid JSON (${(error as Error).message}); it was left as it is. Fix it, or add the entry by hand (\`localizer mcp install … --print\` shows it).`,
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new McpInstallError(`${config.path} is not a JSON object; it was left as it is.`);
    document = parsed as Record<string, unknown>;
  }
  const servers: unknown = document[config.key] ?? {};
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers))
    throw new McpInstallError(`"${config.key}" in ${config.path} is not an object; it was left as it is.`);
  const existing = (servers as Record<string, unknown>).localizer;
  if (JSON.stringify(existing) === JSON.stringify(config.entry)) return 'unchanged';
  document[config.key] = { ...servers, localizer: config.entry };
  // A file kept elsewhere and linked here (dotfiles) is written where it lives, and stays a link.
  const target = existsSync(config.path) ? realpathSync(config.path) : config.path;
  mkdirSync(dirname(target), { recursive: true });
  const temporary = `${target}.localizer-${String(process.pid)}.tmp`;
  // Its mode as it was (a new file: the user's only, as the client's own state may go in it).
  const mode = existsSync(target) ? statSync(target).mode & 0o777 : 0o600;
  writeFileSync(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode });
  renameSync(temporary, target);
  return existing === undefined ? 'added' : 'updated';
}

/** The entry as the client's file holds it, for `--print`. */
export function printedEntry(config: ClientConfig): string {
  return JSON.stringify({ [config.key]: { localizer: config.entry } }, null, 2);
}
