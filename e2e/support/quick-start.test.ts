/** CI runs what the README tells a newcomer to run, so the two can never drift apart. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingToolsMessage, requireSystemTools, systemTools } from './system-tools';

const root = new URL('../../', import.meta.url);

function quickStartLines(): string[] {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const block = /## Quick start\s+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  return block.trim().split('\n');
}

describe('the quick start', () => {
  it("CI runs npm ci and then exactly the README's second line", () => {
    const lines = quickStartLines();
    expect(lines).toHaveLength(2);
    const ci = readFileSync(new URL('.ci/run', root), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'));
    expect(ci.at(-1)).toBe(lines[1]);
    expect(ci.at(-2)).toMatch(/^npm ci\b/);
  });

  it('names a missing tool, its package and the setup command', () => {
    expect(missingToolsMessage([systemTools.sshd])).toBe(
      [
        'This machine lacks a tool these tests need:',
        "- OpenSSH's server (/usr/sbin/sshd), for the test cluster's SSH pods, which expose and its tests run: Debian/Ubuntu package openssh-server",
        'Run `npm run setup` to install it (apt-get install openssh-server).',
      ].join('\n'),
    );
  });

  it('passes at once when every tool is there', () => {
    // This machine ran `npm run setup` (CI does, as the README says), so none is missing.
    expect(() =>
      requireSystemTools(...(Object.keys(systemTools) as (keyof typeof systemTools)[])),
    ).not.toThrow();
  });
});
