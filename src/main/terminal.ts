/**
 * "Open a terminal with this environment": a terminal window whose shell has the variables. On
 * Linux and Windows the terminal inherits them from its process; macOS's Terminal does not, so
 * it runs a script (0700, in a 0700 directory) that exports them, deletes itself, and starts the
 * login shell.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { formatEnvironment, shellQuote } from './engine/environment/environment-format';

/** Linux terminals, in the order tried, each with how it takes a command to run. */
const linuxTerminals: { command: string; run: string[] }[] = [
  { command: 'x-terminal-emulator', run: ['-e'] },
  { command: 'gnome-terminal', run: ['--'] },
  { command: 'konsole', run: ['-e'] },
  { command: 'xfce4-terminal', run: ['-x'] },
  { command: 'xterm', run: ['-e'] },
];

function onPath(command: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** How to open a terminal that runs `shell` here, or undefined where none can be found. */
export function terminalCommand(
  platform: NodeJS.Platform,
  shell: string,
  available: (command: string) => boolean = (command) => onPath(command),
): { command: string; args: string[] } | undefined {
  if (platform === 'win32') return { command: 'cmd.exe', args: ['/c', 'start', 'Localizer', 'cmd.exe'] };
  if (platform === 'darwin') return { command: 'open', args: ['-a', 'Terminal'] };
  const terminal = linuxTerminals.find((t) => available(t.command));
  return terminal ? { command: terminal.command, args: [...terminal.run, shell] } : undefined;
}

export async function openTerminal(env: Record<string, string>, title: string): Promise<void> {
  const shell = process.env.SHELL ?? (process.platform === 'darwin' ? '/bin/zsh' : '/bin/sh');
  const how = terminalCommand(process.platform, shell);
  if (!how)
    throw new Error(
      `No terminal program was found (tried ${linuxTerminals.map((t) => t.command).join(', ')}). Run \`localizer run\` in one instead.`,
    );
  let args = how.args;
  if (process.platform === 'darwin') {
    const script = join(mkdtempSync(join(tmpdir(), 'localizer-terminal-')), 'environment.command');
    const variables = Object.entries(env).map(([name, value]) => ({ name, value }));
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `printf '%s\\n' ${shellQuote(`Localizer: the environment of ${title}`)}`,
        formatEnvironment(variables, 'shell').trimEnd(),
        'rm -f "$0"',
        `exec ${shellQuote(shell)} -l`,
      ].join('\n'),
      { mode: 0o700 },
    );
    args = [...args, script];
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn(how.command, args, {
      env: { ...process.env, ...env },
      detached: true,
      stdio: 'ignore',
    });
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}
