/** Aligned text columns for the terminal (report, calibrate, explain): numbers right, text left, two spaces apart. */
export interface TextTable {
  /** The header, a rule of dashes under it, then the rows. */
  readonly lines: string[];
  /** Each column's width. */
  readonly widths: number[];
  /** One more row in the same columns (a total under the table). */
  render(row: string[]): string;
}

export function textTable(header: string[], rows: string[][], numeric: ReadonlySet<number>): TextTable {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const render = (row: string[]) =>
    row
      .map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return { lines: [render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render)], widths, render };
}
