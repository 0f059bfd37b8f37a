// Everything the CLI prints goes through here: aligned tables, ✔/✖/! check lines, colours only on a
// terminal (and never with NO_COLOR), progress on stderr, and `--json` as exactly one document on stdout.
import type { Status } from '../functions/core/types.js';

/** The part of a stream the CLI uses (process.stdout, or a buffer in tests). */
export interface TextStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface Painter {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

// Built from a string: a literal ESC in a regex literal reads like a typo.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

export function painter(enabled: boolean): Painter {
  const wrap = (open: number, close: number) => (text: string) =>
    enabled && text !== '' ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

/** Colours only for a terminal, and never when NO_COLOR is set to anything non-empty (no-color.org). */
export function colourEnabled(
  stream: TextStream,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** Columns a string occupies on a terminal: code points, ANSI colour codes not counted. */
export function visibleWidth(text: string): number {
  return [...stripAnsi(text)].length;
}

/** Shortens to `max` visible characters with an ellipsis (plain text only). */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
  /** Cells longer than this are truncated (before colouring). */
  readonly maxWidth?: number;
}

/**
 * Rows aligned under their headers, two spaces between columns, no trailing spaces. Cells may be
 * coloured (`colour(row, column, text)`): widths are computed on the plain text.
 */
export function formatTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  options: { paint?: Painter; colour?: (row: number, column: number, text: string) => string } = {},
): string[] {
  const cells = rows.map((row) =>
    columns.map((column, index) => {
      const text = (row[index] ?? '').replace(/\s+/g, ' ');
      return column.maxWidth === undefined ? text : truncate(text, column.maxWidth);
    }),
  );
  const widths = columns.map((column, index) =>
    Math.max(visibleWidth(column.header), ...cells.map((row) => visibleWidth(row[index] ?? ''))),
  );
  const line = (values: readonly string[], colour?: (column: number, text: string) => string): string =>
    values
      .map((value, index) => {
        const width = widths[index] ?? 0;
        const pad = ' '.repeat(Math.max(0, width - visibleWidth(value)));
        const shown = colour ? colour(index, value) : value;
        const last = index === values.length - 1;
        if (columns[index]?.align === 'right') return `${pad}${shown}`;
        return last ? shown : `${shown}${pad}`;
      })
      .join('  ')
      .trimEnd();
  const bold = options.paint?.bold ?? ((text: string) => text);
  return [
    line(
      columns.map((column) => column.header),
      (_, text) => bold(text),
    ),
    ...cells.map((row, rowIndex) =>
      line(
        row,
        options.colour ? (column, text) => options.colour?.(rowIndex, column, text) ?? text : undefined,
      ),
    ),
  ];
}

/** A status in its colour: green for success, red for failure, yellow for in-between. */
export function paintStatus(status: Status | string, paint: Painter): string {
  switch (status) {
    case 'SUCCESS':
      return paint.green(status);
    case 'FAILED':
    case 'PARTIAL':
    case 'ORPHANED':
      return paint.red(status);
    case 'RUNNING':
    case 'PENDING':
      return paint.cyan(status);
    case 'SKIPPED':
    case 'DRIFTED':
      return paint.yellow(status);
    default:
      return status;
  }
}

/** `2025-11-22T16:04:05.123Z` → `2025-11-22 16:04:05Z`; absent → `-`. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '-';
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
}

export type CheckStatus = 'ok' | 'fail' | 'warn';

export const MARKS: Readonly<Record<CheckStatus, string>> = { ok: '✔', fail: '✖', warn: '!' };

/** One diagnostic line: mark, title, detail, and a one-line fix underneath when there is one. */
export interface CheckLine {
  readonly status: CheckStatus;
  readonly title: string;
  readonly detail: string;
  readonly fix?: string;
}

export function formatCheck(check: CheckLine, paint: Painter, indent = '  '): string[] {
  const colour = check.status === 'ok' ? paint.green : check.status === 'fail' ? paint.red : paint.yellow;
  const lines = [`${indent}${colour(MARKS[check.status])} ${paint.bold(check.title)}: ${check.detail}`];
  if (check.fix) lines.push(`${indent}    ${paint.dim('fix:')} ${check.fix}`);
  return lines;
}

/** Counts as `SUCCESS 3 · FAILED 1`, in the given order, zero counts left out. */
export function formatCounts(
  counts: Readonly<Record<string, number>>,
  order: readonly string[],
  paint: Painter,
): string {
  const parts = order
    .filter((key) => (counts[key] ?? 0) > 0)
    .map((key) => `${paintStatus(key, paint)} ${counts[key]}`);
  return parts.length > 0 ? parts.join(' · ') : 'none';
}

/** Where a command writes. Human output on stdout, diagnostics and progress on stderr. */
export class Output {
  readonly paint: Painter;
  readonly errPaint: Painter;
  private progressShown = false;

  constructor(
    private readonly stdout: TextStream,
    private readonly stderr: TextStream,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    this.paint = painter(colourEnabled(stdout, env));
    this.errPaint = painter(colourEnabled(stderr, env));
  }

  /** Lines to stdout. */
  print(...lines: string[]): void {
    this.clearProgress();
    for (const line of lines.length === 0 ? [''] : lines) this.stdout.write(`${line}\n`);
  }

  /** The one JSON document of `--json`. */
  json(document: unknown): void {
    this.clearProgress();
    this.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  }

  /** A note for the operator that is not the command's result (stderr, so `--json` stays parseable). */
  note(line: string): void {
    this.clearProgress();
    this.stderr.write(`${this.errPaint.yellow('!')} ${line}\n`);
  }

  /** A question waiting for an answer on the same line (stderr, so `--json` stays parseable). */
  ask(question: string): void {
    this.clearProgress();
    this.stderr.write(question);
  }

  error(line: string): void {
    this.clearProgress();
    this.stderr.write(`${this.errPaint.red('error:')} ${line}\n`);
  }

  /** A transient status line on stderr, only on a terminal (a pipe or a log gets nothing). */
  progress(message: string): void {
    if (this.stderr.isTTY !== true) return;
    this.stderr.write(`\r\x1b[2K${this.errPaint.dim(message)}`);
    this.progressShown = true;
  }

  clearProgress(): void {
    if (!this.progressShown) return;
    this.stderr.write('\r\x1b[2K');
    this.progressShown = false;
  }
}
