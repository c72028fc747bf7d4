import { describe, expect, it } from 'vitest';
import { terminalCommand } from './terminal';

describe('opening a terminal with an environment', () => {
  it('takes the first Linux terminal there is, running the shell in it', () => {
    expect(terminalCommand('linux', '/bin/bash', (c) => c === 'konsole' || c === 'xterm')).toEqual({
      command: 'konsole',
      args: ['-e', '/bin/bash'],
    });
    expect(terminalCommand('linux', '/bin/bash', (c) => c === 'gnome-terminal')).toEqual({
      command: 'gnome-terminal',
      args: ['--', '/bin/bash'],
    });
  });

  it('says there is none where no terminal program is installed', () => {
    expect(terminalCommand('linux', '/bin/sh', () => false)).toBeUndefined();
  });

  it('uses Terminal on macOS and a new console on Windows', () => {
    expect(terminalCommand('darwin', '/bin/zsh')?.command).toBe('open');
    expect(terminalCommand('win32', 'cmd.exe')?.args).toContain('start');
  });
});
