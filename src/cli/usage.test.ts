import { describe, expect, it } from 'vitest';
import { commandUsage, usage } from './usage';

describe('commandUsage: `localizer COMMAND --help`', () => {
  it("gives each command its synopsis and description from the one usage text, and no other command's", () => {
    const commands = [...usage.matchAll(/^ {2}localizer ([a-z]+)/gm)].map((m) => m[1] ?? '');
    expect(new Set(commands).size).toBe(12);
    for (const command of new Set(commands)) {
      const text = commandUsage(command) ?? '';
      expect(text, command).toMatch(new RegExp(`^Usage:\\n {2}localizer ${command}\\b`));
      expect(text, command).toMatch(new RegExp(`\\n\\n${command} {2,}\\S`));
      const others = [...text.matchAll(/^ {2}localizer ([a-z]+)/gm)].map((m) => m[1]);
      expect(new Set(others), command).toEqual(new Set([command]));
    }
  });

  it('keeps continuation lines of a synopsis and the whole description', () => {
    const expose = commandUsage('expose') ?? '';
    expect(expose).toContain('[--context NAME] [--ssh-image IMAGE --ssh-user NAME:UID]');
    expect(expose).toContain('localizer expose NAMESPACE/SERVICE --stop [--context NAME]');
    expect(expose.trimEnd()).toMatch(/with none running, runs in the foreground until Ctrl-C or --stop$/);
    expect(commandUsage('mcp')).toContain('localizer mcp install claude|cursor|vscode');
  });

  it('knows no command usage does not describe', () => {
    expect(commandUsage('nope')).toBeUndefined();
    expect(commandUsage('localizer')).toBeUndefined();
  });
});
