/** A resolved environment as `.env`, JSON or shell `export` lines. */
export const environmentFormats = ['dotenv', 'json', 'shell'] as const;
export type EnvironmentFormat = (typeof environmentFormats)[number];

function shellQuote(value: string): string {
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
          /^[A-Za-z_][A-Za-z0-9_]*$/.test(v.name)
            ? `export ${v.name}=${shellQuote(v.value)}`
            : `# ${v.name} is not a shell variable name; \`localizer run\` passes it`,
        )
      : variables.map((v) => `${v.name}=${dotenvQuote(v.value)}`);
  return `${[...comments, ...lines].join('\n')}\n`;
}
