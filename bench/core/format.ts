/**
 * Number and Markdown-table formatting shared by the benchmarks' live tables and reports.
 * @module
 */

const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** rows/s: thousands separators; one decimal below 100 where digits are few. */
export function fmtRate(x: number): string {
  return x < 100 ? x.toFixed(1) : intFormat.format(x);
}

/** Milliseconds with about three significant digits, never in exponent notation. */
export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x < 1) return x.toFixed(3);
  if (x < 10) return x.toFixed(2);
  if (x < 100) return x.toFixed(1);
  return x.toFixed(0);
}

/** A throughput ratio, e.g. `0.87×`. */
export function fmtRatio(x: number): string {
  return `${x.toFixed(2)}×`;
}

/** One Markdown table row; cells go in as given (see {@link mdEscape}). */
export function mdRow(cells: readonly (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** Text made safe for one table cell: pipes escaped, line breaks folded into spaces. */
export function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** A report's closing "Reproduce" section: the command in a shell block. */
export function reproduceSection(command: string): string[] {
  return ['## Reproduce', '', '```sh', command, '```', ''];
}
