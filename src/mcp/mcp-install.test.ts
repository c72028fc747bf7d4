/**
 * `localizer mcp install` as a user runs it: the real command, with HOME (and XDG_CONFIG_HOME)
 * pointed at a fresh directory holding the client's own file as the client left it.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../../e2e/support/processes';

const localizerCommand = fileURLToPath(new URL('../../bin/localizer.mjs', import.meta.url));

function install(home: string, args: string[]) {
  return run(process.execPath, [localizerCommand, 'mcp', 'install', ...args], {
    env: { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), LOCALIZER_STATE_DIR: join(home, 'state') },
  });
}

describe('localizer mcp install', () => {
  it('adds itself to Cursor beside the servers already there, once', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcp-install-'));
    mkdirSync(join(home, '.cursor'));
    const file = join(home, '.cursor', 'mcp.json');
    writeFileSync(file, JSON.stringify({ mcpServers: { github: { command: 'gh-mcp' } }, theme: 'dark' }), {
      mode: 0o644,
    });
    const first = await install(home, ['cursor']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`Added the localizer server in ${file}; other entries were kept`);
    const written = JSON.parse(readFileSync(file, 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[]; env?: Record<string, string> }>;
      theme: string;
    };
    expect(written.theme).toBe('dark');
    expect(written.mcpServers.github).toEqual({ command: 'gh-mcp' });
    expect(written.mcpServers.localizer?.command).toBe(process.execPath);
    expect(written.mcpServers.localizer?.args.slice(-2)).toEqual([localizerCommand, 'mcp']);
    expect(written.mcpServers.localizer?.env).toEqual({ LOCALIZER_STATE_DIR: join(home, 'state') });
    expect(statSync(file).mode & 0o777, 'the file keeps its mode').toBe(0o644);

    const again = await install(home, ['cursor']);
    expect(again.stdout).toContain('already starts Localizer');
    const withSecrets = await install(home, ['cursor', '--allow-secret-values']);
    expect(withSecrets.stdout).toContain('Updated the localizer server');
  });

  it('writes Claude Code’s user scope and VS Code’s user mcp.json in their own shapes', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcp-install-'));
    writeFileSync(join(home, '.claude.json'), JSON.stringify({ numStartups: 3, projects: {} }));
    expect((await install(home, ['claude'])).code).toBe(0);
    const claude = JSON.parse(readFileSync(join(home, '.claude.json'), 'utf8')) as Record<string, unknown>;
    expect(claude.numStartups).toBe(3);
    expect(claude.mcpServers).toMatchObject({ localizer: { type: 'stdio', command: process.execPath } });

    expect((await install(home, ['vscode'])).code).toBe(0);
    const vscode = JSON.parse(
      readFileSync(join(home, '.config', 'Code', 'User', 'mcp.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(vscode.servers).toMatchObject({ localizer: { type: 'stdio', command: process.execPath } });
  });

  it('leaves a file it cannot read as it is, prints the entry on --print, and refuses an unknown client', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcp-install-'));
    mkdirSync(join(home, '.cursor'));
    const file = join(home, '.cursor', 'mcp.json');
    writeFileSync(file, '{ "mcpServers": { ');
    const broken = await install(home, ['cursor']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(
      new RegExp(`^localizer: ${file.replace(/[.]/g, '\\.')} is not valid JSON .*; it was left as it is`),
    );
    expect(readFileSync(file, 'utf8')).toBe('{ "mcpServers": { ');

    const printed = await install(home, ['vscode', '--print']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('"servers"');
    expect(existsSync(join(home, '.config', 'Code')), '--print writes nothing').toBe(false);

    const unknown = await install(home, ['emacs']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('mcp install takes one of claude, cursor, vscode');
  });
});
