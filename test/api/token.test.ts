import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TOKEN_FILE, inspectToken, jwtExpiry, openTokenSource, renderTokenReport } from '../../src/api/index.js';
import { UsageError } from '../../src/errors.js';
import { mintToken, writeTokenFile } from '../../src/sim/index.js';

let dir = '';
let file = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-token-'));
  file = path.join(dir, 'token');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('openTokenSource', () => {
  test('an explicit file wins over FLEETCLIP_TOKEN, which wins over the default file', () => {
    expect(openTokenSource({ tokenFile: file, env: { FLEETCLIP_TOKEN: 'x' } })).toMatchObject({
      kind: 'file',
      where: file,
      renewable: true,
    });
    expect(openTokenSource({ env: { FLEETCLIP_TOKEN: 'x' } })).toMatchObject({ kind: 'env', where: 'FLEETCLIP_TOKEN', renewable: false });
    expect(openTokenSource({ env: {} })).toMatchObject({ kind: 'file', where: DEFAULT_TOKEN_FILE });
  });

  test('the file is re-read when it changes, and keeps the last good token while it is being replaced', async () => {
    writeTokenFile(file, 'first-token');
    const source = openTokenSource({ tokenFile: file });
    expect((await source.current()).value).toBe('first-token');
    writeTokenFile(file, 'second-token');
    expect((await source.current()).value).toBe('second-token');
    await rm(file);
    expect((await source.current()).value).toBe('second-token');
    await writeFile(file, '\n# nothing\n'.replace('# nothing', 'Bearer   third-token'));
    expect((await source.current()).value).toBe('third-token');
  });

  test.each([
    {
      content: undefined,
      message: (f: string) => `cannot read the token file ${f}: ENOENT; put the Batch API token in it (or set FLEETCLIP_TOKEN)`,
    },
    { content: '\n  \n', message: (f: string) => `the token in ${f} is empty` },
    { content: 'two words', message: (f: string) => `the token in ${f} holds spaces or non-ASCII characters` },
  ])('a bad token file is a one-line UsageError ($content)', async ({ content, message }) => {
    if (content !== undefined) await writeFile(file, content);
    await expect(openTokenSource({ tokenFile: file }).current()).rejects.toThrow(new UsageError(message(file)));
  });
});

describe('JWT expiry', () => {
  test('exp is decoded without a signature check; anything else has no expiry', () => {
    expect(jwtExpiry(mintToken({ expiresAtSec: 1_800_000_000 }))).toBe(1_800_000_000);
    expect(jwtExpiry('opaque-token')).toBeUndefined();
    expect(jwtExpiry('a.b.c')).toBeUndefined();
    expect(jwtExpiry(`x.${Buffer.from('{"sub":"u"}').toString('base64url')}.y`)).toBeUndefined();
  });

  test('inspectToken reports time left, expiry and a too-open file', async () => {
    const now = Date.parse('2025-11-17T08:00:00Z');
    writeTokenFile(file, mintToken({ expiresAtSec: now / 1000 + 3 * 3600 + 12 * 60 }));
    expect(await inspectToken(openTokenSource({ tokenFile: file }), now)).toEqual({
      kind: 'file',
      where: file,
      isJwt: true,
      expiresAtSec: now / 1000 + 11_520,
      remainingSec: 11_520,
      expired: false,
    });
    await chmod(file, 0o644);
    const report = await inspectToken(openTokenSource({ tokenFile: file }), now + 4 * 3600 * 1000);
    expect(report).toMatchObject({
      expired: true,
      remainingSec: -2880,
      permissionWarning: `${file} is readable by group or others (mode 0644): chmod 600 ${file}`,
    });
    expect(renderTokenReport(report)).toMatch(
      new RegExp(
        `^token file: ${file}\nexpires:    2025-11-17T11:12:00Z \\(UTC\\)\n {12}2025-11-17 \\d\\d:12:00 [+-]\\d\\d:\\d\\d \\(local\\)\nleft:       EXPIRED 48m ago: put a new token in ${file}\n$`,
      ),
    );
  });
});
