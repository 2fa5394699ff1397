import { expect, test } from '@jest/globals';
import { formatDuration, parseDuration } from '../src/duration.js';

test.each([
  { sec: 0, text: '0s' },
  { sec: 42, text: '42s' },
  { sec: 245, text: '4m05s' },
  { sec: 3600, text: '1h' },
  { sec: 900, text: '15m' },
  { sec: 11_520, text: '3h12m' },
  { sec: 2 * 86_400 + 6 * 3600 + 59, text: '2d06h' },
  { sec: null, text: '-' },
  { sec: Number.NaN, text: '-' },
])('formatDuration($sec) = $text', ({ sec, text }) => {
  expect(formatDuration(sec)).toBe(text);
});

test.each([
  { text: '5d', sec: 5 * 86_400 },
  { text: '36h', sec: 36 * 3600 },
  { text: '90m', sec: 5400 },
  { text: '4m05s', sec: 245 },
  { text: '2d04h', sec: 2 * 86_400 + 4 * 3600 },
  { text: '1h30m', sec: 5400 },
  { text: '600', sec: 600 },
  { text: ' 0s ', sec: 0 },
])('parseDuration($text) = $sec s', ({ text, sec }) => {
  expect(parseDuration('lookback', text)).toBe(sec);
});

test.each(['', 'd', '5x', '1.5h', '30s5m', '5d 2h', '-5m'])('parseDuration(%j) is refused naming the flag', (text) => {
  expect(() => parseDuration('min-gap', text)).toThrow(/^--min-gap must be a duration such as 5d, 36h, 90m, 4m05s or a number of seconds/);
});

test('formatDuration and parseDuration agree', () => {
  for (const sec of [0, 42, 245, 3600, 11_520, 2 * 86_400 + 6 * 3600]) expect(parseDuration('x', formatDuration(sec))).toBe(sec);
});
