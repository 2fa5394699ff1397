import { describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TokenStore } from '../../src/sim/tokens.js';
import { expiryOf, mintToken, writeTokenFile } from '../../src/sim/index.js';

const now = () => Math.floor(Date.now() / 1000);

describe('tokens', () => {
  test('mintToken is JWT-shaped (three base64url parts) with exp and sub, and unique', () => {
    const exp = now() + 3600;
    const token = mintToken({ expiresAtSec: exp, subject: 'tester' });
    const parts = token.split('.');
    expect(parts).toHaveLength(3);
    for (const p of parts) expect(p).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString())).toMatchObject({ sub: 'tester', exp });
    expect(expiryOf(token)).toBe(exp);
    expect(mintToken({ expiresAtSec: exp })).not.toBe(token);
    expect(expiryOf('opaque-token')).toBeUndefined();
  });

  test('a listed token is ok until its exp; unlisted is unknown; opaque tokens never expire', () => {
    const live = mintToken({ expiresAtSec: now() + 60 });
    const dead = mintToken({ expiresAtSec: now() - 1 });
    const store = new TokenStore(undefined, [live, dead, 'opaque']);
    expect(store.check(live)).toBe('ok');
    expect(store.check(dead)).toBe('expired');
    expect(store.check('opaque')).toBe('ok');
    expect(store.check(mintToken({ expiresAtSec: now() + 60 }))).toBe('unknown');
  });

  test('the token file is re-read when it changes, ignores blank and # lines, and a missing file means no token', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fc-sim-tok-'));
    const file = path.join(dir, 'token');
    const first = mintToken({ expiresAtSec: now() + 60 });
    const second = mintToken({ expiresAtSec: now() + 60 });
    await writeFile(file, `# comment\n\n${first}\n`);
    const store = new TokenStore(file);
    expect(store.check(first)).toBe('ok');
    writeTokenFile(file, second);
    expect(store.check(first)).toBe('unknown');
    expect(store.check(second)).toBe('ok');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await rm(file);
    expect(store.check(second)).toBe('unknown');
  });

  test('a line written as "Bearer <token>" holds that token, as the client reads it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fc-sim-tok-'));
    const file = path.join(dir, 'token');
    const token = mintToken({ expiresAtSec: now() + 60 });
    await writeFile(file, `Bearer ${token}\n`);
    expect(new TokenStore(file).check(token)).toBe('ok');
  });
});
