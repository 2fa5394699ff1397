import { describe, expect, test } from '@jest/globals';
import { ManifestError } from '../../src/errors.js';
import { retryBusy } from '../../src/manifest/busy.js';

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

describe('retryBusy', () => {
  test('retries SQLITE_BUSY until the transaction goes through', () => {
    let calls = 0;
    let retries = 0;
    const value = retryBusy(
      () => {
        if (++calls < 4) throw busy();
        return 'committed';
      },
      5000,
      () => retries++,
    );
    expect([value, calls, retries]).toEqual(['committed', 4, 3]);
  });

  test('gives up with a ManifestError after the deadline', () => {
    const started = Date.now();
    expect(() =>
      retryBusy(() => {
        throw busy();
      }, 60),
    ).toThrow(ManifestError);
    expect(() =>
      retryBusy(() => {
        throw busy();
      }, 60),
    ).toThrow('manifest stayed locked for 0 s (SQLITE_BUSY); is a process stuck holding it?');
    expect(Date.now() - started).toBeGreaterThanOrEqual(120);
  });

  test('any other error passes straight through', () => {
    let calls = 0;
    expect(() =>
      retryBusy(() => {
        calls++;
        throw Object.assign(new Error('malformed'), { code: 'SQLITE_CORRUPT' });
      }, 5000),
    ).toThrow('malformed');
    expect(calls).toBe(1);
  });
});
