import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import {
  campaignApiBase,
  formatArchiveDestination,
  formatOnMiss,
  parseApiBase,
  parseArchiveDestination,
  parseName,
  parseNameList,
  parseOnMiss,
} from '../../src/plan/index.js';
import { clipFileName } from '../../src/storage/index.js';

describe('names', () => {
  test('splits, trims, sorts and drops duplicates', () => {
    expect(parseNameList('vehicle', 'mav, mallory,mav')).toEqual(['mallory', 'mav']);
    expect(parseNameList('camera', ['front-center', 'left_center,Front2'])).toEqual(['Front2', 'front-center', 'left_center']);
  });

  test.each(['x;rm -rf ~', '../a', 'a/b', '-a', '_a', 'a b', 'ä', '$(id)', 'a.b', 'x'.repeat(65)])('refuses %p', (name) => {
    expect(() => parseNameList('vehicle', `mav,${name}`)).toThrow(UsageError);
    expect(() => parseNameList('vehicle', `mav,${name}`)).toThrow(`--vehicles: '${name}' is not a valid vehicle name`);
  });

  test.each([undefined, '', ' , ', []])('an empty list %p is refused', (raw) => {
    expect(() => parseNameList('camera', raw)).toThrow(new UsageError('--cameras needs at least one name'));
  });

  test('a vehicle name may not contain _, a camera name may', () => {
    expect(() => parseNameList('vehicle', 'car_front')).toThrow(
      new UsageError(
        "--vehicles: 'car_front' contains '_', which ends the vehicle name in clip file names (<vehicle>_<camera>_<time>_30s.bag); use '-' instead",
      ),
    );
    expect(parseName('camera', 'front_left')).toBe('front_left');
  });

  test('clip file names are one per (vehicle, camera, slot): the pair that used to collide cannot be named', () => {
    const start = 1_763_368_200;
    expect(clipFileName('car', 'front_left', start)).toBe('car_front_left_20251117T083000Z_30s.bag');
    expect(() => clipFileName('car_front', 'left', start)).toThrow(UsageError);
    // every valid pair maps to a distinct name: the vehicle is what comes before the first '_'
    const vehicles = ['car', 'car-front', 'c'];
    const cameras = ['front_left', 'left', 'front-left', 'f_l_x'];
    const names = vehicles.flatMap((v) => cameras.map((c) => clipFileName(v, c, start)));
    expect(new Set(names).size).toBe(names.length);
    for (const [i, name] of names.entries()) expect(name.slice(0, name.indexOf('_'))).toBe(vehicles[Math.floor(i / cameras.length)]);
  });
});

describe('--on-miss', () => {
  test.each([
    { text: 'probe-all', kind: 'probe-all', formatted: 'probe-all' },
    { text: 'skip:300', kind: 'skip', formatted: 'skip:300' },
    { text: 'gallop', kind: 'gallop', formatted: 'gallop:240' },
    { text: 'gallop:600', kind: 'gallop', formatted: 'gallop:600' },
  ])('$text', ({ text, kind, formatted }) => {
    const s = parseOnMiss(text);
    expect(s.kind).toBe(kind);
    expect(formatOnMiss(s)).toBe(formatted);
  });

  test.each(['skip', 'skip:45', 'skip:0', 'skip:-30', 'skip:3630', 'gallop:x', 'gallop:45', 'probe-all:30', 'bisect', 'skip:30:1'])(
    '%s is refused',
    (text) => {
      expect(() => parseOnMiss(text)).toThrow(
        new UsageError(
          `--on-miss must be probe-all, skip:SECS or gallop[:MAXSTRIDE_SECS] (SECS a multiple of 30 up to 3600), got '${text}'`,
        ),
      );
    },
  );
});

describe('--api-base', () => {
  test.each([
    { raw: 'https://batch.example.com', base: 'https://batch.example.com' },
    { raw: 'https://batch.example.com/', base: 'https://batch.example.com' },
    { raw: 'http://127.0.0.1:8080/batch//', base: 'http://127.0.0.1:8080/batch' },
  ])('$raw → $base', ({ raw, base }) => {
    expect(parseApiBase(raw)).toBe(base);
  });

  test.each([
    'not a url',
    'ftp://batch.example.com',
    'https://batch.example.com/?k=v',
    'https://u:p@batch.example.com',
    'https://b.example.com/#x',
  ])('%s is refused', (raw) => {
    expect(() => parseApiBase(raw)).toThrow(
      new UsageError(`--api-base must be an http(s) URL without credentials, query or fragment, got '${raw}'`),
    );
  });
});

describe('--api-base over plain http', () => {
  test.each(['http://127.0.0.1:8080', 'http://127.4.5.6', 'http://localhost:9/api', 'http://[::1]:9', 'http://LOCALHOST'])(
    '%s (loopback) is accepted without --insecure-http',
    (raw) => {
      expect(parseApiBase(raw)).toBe(new URL(raw).origin + new URL(raw).pathname.replace(/\/+$/, ''));
    },
  );

  test.each([
    'http://batch.example.com',
    'http://10.0.0.1:8080',
    'http://128.0.0.1',
    'http://[::ffff:127.0.0.1]',
    'http://localhost.example.com',
  ])('%s is refused in one line, and accepted with --insecure-http', (raw) => {
    expect(() => parseApiBase(raw)).toThrow(
      new UsageError(
        `--api-base is plain http:// beyond loopback ('${raw}'), so the token would travel unencrypted: use https://, or allow it with --insecure-http`,
      ),
    );
    expect(parseApiBase(raw, { insecureHttp: true })).toMatch(/^http:\/\//);
  });

  test("a campaign's stored base is checked again, naming the manifest and how to opt in", () => {
    expect(campaignApiBase({ apiBase: 'http://127.0.0.1:9' }, '/run/manifest.sqlite')).toBe('http://127.0.0.1:9');
    expect(campaignApiBase({ apiBase: 'http://batch.example.com', insecureHttp: true }, '/run/manifest.sqlite')).toBe(
      'http://batch.example.com',
    );
    expect(() => campaignApiBase({ apiBase: 'http://batch.example.com' }, '/run/manifest.sqlite')).toThrow(
      new UsageError(
        "the API base of the campaign in /run/manifest.sqlite is plain http:// beyond loopback ('http://batch.example.com'), so the token would travel unencrypted: use https://, or allow it with `fleetclip plan --extend` and the same arguments plus --insecure-http",
      ),
    );
  });
});

describe('parseArchiveDestination', () => {
  test.each([
    { raw: '/scratch/fleet/archive', parsed: { kind: 'folder', path: '/scratch/fleet/archive' } },
    { raw: 'archive/', parsed: { kind: 'folder', path: 'archive/' } },
    { raw: 'rclone:box:fleet/archive', parsed: { kind: 'rclone', remote: 'box:fleet/archive' } },
    { raw: 'rclone:box:fleet/archive/', parsed: { kind: 'rclone', remote: 'box:fleet/archive' } },
    { raw: 'rclone:box:', parsed: { kind: 'rclone', remote: 'box:' } },
    { raw: 'rclone::local:/scratch/x', parsed: { kind: 'rclone', remote: ':local:/scratch/x' } },
    { raw: 'rclone::local:/', parsed: { kind: 'rclone', remote: ':local:/' } },
    { raw: 'rclone::s3,provider=AWS,env_auth:bucket/path', parsed: { kind: 'rclone', remote: ':s3,provider=AWS,env_auth:bucket/path' } },
  ])('$raw', ({ raw, parsed }) => {
    expect(parseArchiveDestination(raw)).toEqual(parsed);
    expect(formatArchiveDestination(parseArchiveDestination(raw))).toBe(parsed.kind === 'folder' ? raw : `rclone:${parsed.remote}`);
  });

  test.each(['', 'rclone:', 'rclone:box', 'rclone:/scratch/x', 'rclone::'])('%j is refused', (raw) => {
    expect(() => parseArchiveDestination(raw)).toThrow(UsageError);
  });

  test.each([
    { raw: 'rclone::s3,provider=AWS,access_key_id=AKIAEXAMPLE,secret_access_key=s3cr3t:bucket/x', parameter: 'access_key_id' },
    { raw: 'rclone:box,token={"access_token":"t0k"}:fleet', parameter: 'token' },
    { raw: 'rclone::sftp,host=h,pass=obscured:dir', parameter: 'pass' },
  ])('credentials in a connection string are refused, naming the parameter and never the value: $parameter', ({ raw, parameter }) => {
    const error = (() => {
      try {
        parseArchiveDestination(raw);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).toContain(`sets ${parameter}, which would be stored in the manifest`);
    for (const value of ['AKIAEXAMPLE', 's3cr3t', 't0k', 'obscured']) expect(error!.message).not.toContain(value);
  });
});
