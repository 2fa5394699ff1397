import { expect, test } from '@jest/globals';
import { formatDuration } from '../src/duration.js';

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
