import type { EnvironmentAnswer } from '../../../shared/control-answers';

/** A resolved environment as `.env`, JSON or shell `export` lines. */
export const environmentFormats = ['dotenv', 'json', 'shell'] as const;
export type EnvironmentFormat = (typeof environmentFormats)[number];

/** Whether a shell takes `name` as a variable (the kubelet also allows `.` and `-`). */
export function isShellName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Single quotes where they can hold the value (no interpolation); else escaped double quotes. */
function dotenvQuote(value: string): string {
  if (/^[A-Za-z0-9_./:@,+-]*$/.test(value)) return value;
  if (!value.includes("'") && !value.includes('\n')) return `'${value}'`;
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n').replaceAll('$', '\\$')}"`;
}

export function formatEnvironment(
  variables: readonly { name: string; value: string }[],
  format: EnvironmentFormat,
  notes: readonly string[] = [],
): string {
  if (format === 'json')
    return `${JSON.stringify(Object.fromEntries(variables.map((v) => [v.name, v.value])), null, 2)}\n`;
  const comments = notes.map((note) => `# ${note.replaceAll('\n', ' ')}`);
  // A shell takes only C identifiers; the kubelet allows `.` and `-` too.
  const lines =
    format === 'shell'
      ? variables.map((v) =>
          isShellName(v.name)
            ? `export ${v.name}=${shellQuote(v.value)}`
            : `# ${v.name} is not a shell variable name; \`localizer run\` passes it`,
        )
      : variables.map((v) => `${v.name}=${dotenvQuote(v.value)}`);
  return `${[...comments, ...lines].join('\n')}\n`;
}

/**
 * What to know about an answer, a line each, naming variables but never a value: where it came
 * from, what was rewritten for this machine, and what is missing and why.
 */
export function environmentNotes(answer: EnvironmentAnswer): string[] {
  return [
    `${answer.workload}, container ${answer.container}${answer.pod ? `, fields from pod ${answer.pod}` : ''} (context ${answer.context})`,
    ...answer.rewrites.map((r) => `rewritten for this machine: ${r.name} (${r.change})`),
    ...(answer.connected
      ? []
      : [
          'not connected here, so in-cluster addresses are as the pods see them (run `localizer connect` to rewrite them)',
        ]),
    ...answer.unresolved.map((m) => `missing: ${m.name}: ${m.reason}`),
  ];
}
