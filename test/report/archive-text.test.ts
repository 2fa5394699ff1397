import { expect, test } from '@jest/globals';
import { formatArchiveProgress, formatBytes } from '../../src/report/index.js';

test('formatBytes: decimal units, three figures', () => {
  expect([0, 999, 1000, 4096, 35_200_000, 2_500_000_000, 12_345_678_901_234].map(formatBytes)).toEqual([
    '0 B',
    '999 B',
    '1.00 kB',
    '4.10 kB',
    '35.2 MB',
    '2.50 GB',
    '12.3 TB',
  ]);
});

test('formatArchiveProgress: clips and bytes of the campaign, bytes/s, ETA; the pass once there is more than one', () => {
  const counts = { pass: 1, clips: 960, bytes: 2_500_000_000, clipsDone: 412, bytesDone: 1_030_000_000, bytesCopied: 1_030_000_000 };
  expect(formatArchiveProgress({ counts, bytesPerSec: 35_200_000 }, 10)).toBe(
    '[####------] 412/960 clips  1.03 GB of 2.50 GB (41%)  35.2 MB/s  ETA 42s',
  );
  expect(formatArchiveProgress({ counts: { ...counts, pass: 3 }, bytesPerSec: 0 }, 0)).toBe(
    '412/960 clips  1.03 GB of 2.50 GB (41%)  0 B/s  ETA -  pass 3',
  );
});
