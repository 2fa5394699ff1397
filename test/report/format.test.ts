import { describe, expect, test } from '@jest/globals';
import { renderTable } from '../../src/report/index.js';
import { formatDays } from '../../src/report/format.js';

test('formatDays', () => {
  expect(formatDays(['2025-11-17'])).toBe('2025-11-17');
  expect(formatDays(['2025-11-17', '2025-11-18', '2025-11-19'])).toBe('2025-11-17..2025-11-19 (3 days)');
});

describe('renderTable', () => {
  test('aligns columns, labels groups, rules off the footer', () => {
    const text = renderTable(
      [{ header: 'name' }, { header: 'a', group: 'counts', align: 'right' }, { header: 'bb', group: 'counts', align: 'right' }],
      [
        ['x', '1', '22'],
        ['long-name', '333', '4'],
      ],
      [['total', '334', '26']],
    );
    expect(text).toBe(
      [
        '           counts',
        'name         a  bb',
        'x            1  22',
        'long-name  333   4',
        '---------  ---  --',
        'total      334  26',
        '',
      ].join('\n'),
    );
  });
});
