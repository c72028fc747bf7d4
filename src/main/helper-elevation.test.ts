import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { elevatedCommand } from './helper-elevation';

describe('elevatedCommand', () => {
  it('passes every argument through the shell unchanged, however hostile', () => {
    const args = ['--range', "127.77.0.0/16'; rm -rf / #", '$(id)', '`id`', 'a b', ''];
    const command = elevatedCommand({ executable: '/bin/echo', helperScript: 'helper.js', args });
    const printed = execFileSync(
      '/bin/sh',
      ['-c', command.replace('ELECTRON_RUN_AS_NODE=1 ', 'ELECTRON_RUN_AS_NODE=1 printf "%s\\n" ')],
      { encoding: 'utf8' },
    );
    expect(printed.split('\n').slice(0, -1)).toEqual(['/bin/echo', 'helper.js', ...args]);
  });
});
