export interface Column {
  header: string;
  /** a label printed above the first column of a run of columns sharing it */
  group?: string;
  align?: 'left' | 'right';
}

/** A plain-text table: an optional group line, a header line, the body, then `footer` rows under a rule. */
export function renderTable(columns: readonly Column[], body: readonly string[][], footer: readonly string[][] = []): string {
  const all = [...body, ...footer];
  const widths = columns.map((c, i) => Math.max(c.header.length, ...all.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (columns[i]?.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const lines: string[] = [];
  if (columns.some((c) => c.group)) {
    let groups = '';
    let start = 0;
    columns.forEach((c, i) => {
      if (c.group && c.group !== columns[i - 1]?.group) groups = `${groups.padEnd(start)}${groups.length > start ? ' ' : ''}${c.group}`;
      start += (widths[i] ?? 0) + 2;
    });
    lines.push(groups);
  }
  lines.push(line(columns.map((c) => c.header)));
  lines.push(...body.map(line));
  if (footer.length > 0) {
    lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    lines.push(...footer.map(line));
  }
  return `${lines.join('\n')}\n`;
}
