import { describe, expect, it } from 'vitest';
import {
  colourEnabled,
  formatCheck,
  formatCounts,
  formatTable,
  formatTime,
  Output,
  painter,
  paintStatus,
  stripAnsi,
  truncate,
  visibleWidth,
} from '../../cli/output.js';

const plain = painter(false);
const colour = painter(true);

function buffer(isTTY: boolean) {
  let text = '';
  return { stream: { write: (chunk: string) => (text += chunk), isTTY }, text: () => text };
}

describe('formatTable', () => {
  it('aligns columns under their headers, right-aligns numbers, leaves no trailing spaces', () => {
    const lines = formatTable(
      [{ header: 'ID' }, { header: 'N', align: 'right' }, { header: 'NOTE' }],
      [
        ['i-1', '7', 'short'],
        ['i-123456', '1234', ''],
      ],
    );
    expect(lines).toEqual(['ID           N  NOTE', 'i-1          7  short', 'i-123456  1234']);
  });

  it('measures width without colour codes, so coloured cells stay aligned', () => {
    const lines = formatTable(
      [{ header: 'STATUS' }, { header: 'X' }],
      [
        ['FAILED', 'a'],
        ['SUCCESS', 'b'],
      ],
      {
        paint: colour,
        colour: (_row, column, text) => (column === 0 ? colour.red(text) : text),
      },
    );
    expect(lines.map(stripAnsi)).toEqual(['STATUS   X', 'FAILED   a', 'SUCCESS  b']);
    expect(lines[1]).toContain('\x1b[31mFAILED\x1b[39m');
    expect(lines[0]).toContain('\x1b[1mSTATUS\x1b[22m');
  });

  it('truncates long cells with an ellipsis and flattens line breaks', () => {
    const lines = formatTable([{ header: 'A', maxWidth: 5 }, { header: 'B' }], [['abcdefgh', 'x\ny']]);
    expect(lines).toEqual(['A      B', 'abcd…  x y']);
  });

  it('counts code points, not UTF-16 units', () => {
    expect(visibleWidth('✔ ok')).toBe(4);
    expect(visibleWidth(colour.green('ab'))).toBe(2);
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('✔✔✔✔', 3)).toBe('✔✔…');
  });
});

describe('colours', () => {
  it('are on only for a terminal without NO_COLOR', () => {
    expect(colourEnabled({ write: () => true, isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ write: () => true, isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ write: () => true, isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled({ write: () => true, isTTY: false }, {})).toBe(false);
    expect(colourEnabled({ write: () => true }, {})).toBe(false);
  });

  it('paint nothing when disabled', () => {
    expect(plain.red('x')).toBe('x');
    expect(paintStatus('FAILED', plain)).toBe('FAILED');
    expect(paintStatus('SUCCESS', colour)).toBe('\x1b[32mSUCCESS\x1b[39m');
  });
});

describe('check lines and counts', () => {
  it('prints mark, title, detail and the fix underneath', () => {
    expect(
      formatCheck({ status: 'fail', title: 'Opt-in tag', detail: 'missing', fix: 'tag it' }, plain),
    ).toEqual(['  ✖ Opt-in tag: missing', '      fix: tag it']);
    expect(formatCheck({ status: 'ok', title: 'Agent', detail: 'Online' }, plain, '')).toEqual([
      '✔ Agent: Online',
    ]);
    expect(formatCheck({ status: 'warn', title: 'T', detail: 'd' }, plain)).toEqual(['  ! T: d']);
  });

  it('formats counts in order without zeros, and times without milliseconds', () => {
    expect(formatCounts({ FAILED: 2, SUCCESS: 0, PENDING: 1 }, ['PENDING', 'SUCCESS', 'FAILED'], plain)).toBe(
      'PENDING 1 · FAILED 2',
    );
    expect(formatCounts({}, ['PENDING'], plain)).toBe('none');
    expect(formatTime('2025-11-22T16:04:05.123Z')).toBe('2025-11-22 16:04:05Z');
    expect(formatTime(undefined)).toBe('-');
    expect(formatTime('yesterday')).toBe('yesterday');
  });
});

describe('Output', () => {
  it('writes JSON as one document on stdout and notes on stderr', () => {
    const out = buffer(false);
    const err = buffer(false);
    const output = new Output(out.stream, err.stream, {});
    output.note('state not read');
    output.json({ a: [1] });
    expect(JSON.parse(out.text())).toEqual({ a: [1] });
    expect(err.text()).toBe('! state not read\n');
  });

  it('shows progress only on a terminal, and clears it before the next output', () => {
    const pipeOut = buffer(false);
    const pipeErr = buffer(false);
    new Output(pipeOut.stream, pipeErr.stream, {}).progress('reading…');
    expect(pipeErr.text()).toBe('');

    const ttyOut = buffer(true);
    const ttyErr = buffer(true);
    const output = new Output(ttyOut.stream, ttyErr.stream, { NO_COLOR: '1' });
    output.progress('reading…');
    output.print('done');
    expect(ttyErr.text()).toBe('\r\x1b[2Kreading…\r\x1b[2K');
    expect(ttyOut.text()).toBe('done\n');
  });
});
