/** The fault suite's figures: one row per case, printed as a table when a file's cases are done. */

export type FaultFigures = Record<string, string | number>;

/** Prints `rows` under `title`, columns in the order they first appear. */
export function printFigures(title: string, rows: readonly FaultFigures[]): void {
  if (rows.length === 0) return;
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (row: FaultFigures, column: string): string => String(row[column] ?? '-');
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row, column).length)),
  );
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const text = [
    `\n${title}`,
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((row) => line(columns.map((column) => cell(row, column)))),
  ].join('\n');
  console.log(text);
}
