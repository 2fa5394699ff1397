import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type RunningSimulator, mintToken, startSimulator, writeTokenFile } from '../../src/sim/index.js';
import { clipFileName } from '../../src/storage/index.js';
import { runCli, runMain } from '../helpers/cli.js';
import { DAY, filesUnder, sha256File } from '../helpers/api-rig.js';

let sim: RunningSimulator;
let dir = '';
let tokenFile = '';
beforeAll(async () => {
  const token = mintToken({ expiresAtSec: Date.now() / 1000 + 2 * 3600 });
  sim = await startSimulator({ timeScale: 0.02, tokens: [token] });
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-cmd-'));
  tokenFile = path.join(dir, 'token');
  writeTokenFile(tokenFile, token);
});
afterAll(async () => {
  expect(sim.stats().tokenLeaks).toBe(0);
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

const fetchArgs = (extra: string[]) => [
  'fetch',
  '--api-base',
  sim.baseUrl,
  '--token-file',
  tokenFile,
  '--out',
  path.join(dir, 'out'),
  ...extra,
];

describe('fleetclip fetch', () => {
  test('saves one clip under our name and prints its metadata', async () => {
    const slot = sim.config.vehicles.flatMap((vehicle) =>
      sim.truth({ day: DAY, vehicle, camera: 'left-center', from: '08:30', to: '08:35' }),
    )[0];
    if (!slot) throw new Error('the simulator has no data for this test');
    const { vehicle } = slot;
    // epoch seconds 17 s into the slot are floored to its start
    const r = await runMain(fetchArgs(['--vehicle', vehicle, '--camera', 'left-center', '--at', String(slot.start + 17)]));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const saved = path.join(dir, 'out', `${vehicle}_left-center_${slot.startIso.replace(/[-:]/g, '').replace('.000Z', 'Z')}_30s.bag`);
    expect(r.stdout).toMatch(
      new RegExp(
        `^${saved}\n  size      ${slot.bytes} bytes\n  sha256    ${slot.sha256}\n  topics    /camera/left-center/image/compressed\n` +
          `  messages  \\d{3}\n  time      ${slot.startIso.slice(0, 17)}\\d\\d\\.\\d{3}Z \\.\\. ${slot.startIso.slice(0, 17)}\\d\\d\\.\\d{3}Z\n$`,
      ),
    );
    expect(await sha256File(saved)).toBe(slot.sha256);
    expect(await filesUnder(path.join(dir, 'out', '.partial'))).toEqual([]);
  });

  test('a slot without video prints "no data" and exits 3', async () => {
    const idle = sim.config.vehicles.find((v) => sim.truth({ day: DAY, vehicle: v, from: '08:00', to: '08:10' }).length === 0) as string;
    const r = await runMain(fetchArgs(['--vehicle', idle, '--camera', 'front-center', '--at', `${DAY}T08:00:00Z`]));
    expect(r).toEqual({ code: 3, stdout: 'no data\n', stderr: '' });
  });

  test.each([
    {
      flag: ['--api-base', 'batch.example.com'],
      stderr: "fleetclip: --api-base must be an http(s) URL without credentials, query or fragment, got 'batch.example.com'\n",
    },
    {
      flag: ['--at', '2025-11-17 08:30'],
      stderr: 'fleetclip: --at "2025-11-17 08:30" is neither an ISO instant with a zone (2025-11-17T08:30:00Z) nor epoch seconds\n',
    },
    {
      flag: ['--vehicle', '../etc'],
      stderr:
        "fleetclip: --vehicle: '../etc' is not a valid vehicle name (letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters)\n",
    },
    { flag: ['--min-clip-bytes', '1MB'], stderr: 'fleetclip: --min-clip-bytes must be a whole number of bytes, got "1MB"\n' },
    { flag: ['--max-clip-bytes', 'lots'], stderr: "fleetclip: --max-clip-bytes must be a size such as 2MB or 10GiB, got 'lots'\n" },
    { flag: ['--out', 'a', '--out'], stderr: 'fleetclip: --out takes one value\n' },
  ])('bad input is one line, exit 2: $flag', async ({ flag, stderr }) => {
    const flags: Record<string, string> = {
      '--api-base': sim.baseUrl,
      '--token-file': tokenFile,
      '--out': path.join(dir, 'out'),
      '--vehicle': 'mav',
      '--camera': 'front-center',
      '--at': `${DAY}T08:30:00Z`,
    };
    flags[flag[0] as string] = flag[1] as string;
    const args = ['fetch', ...Object.entries(flags).flat(), ...flag.slice(2), ...(flag[2] ? ['b'] : [])];
    expect(await runMain(args)).toEqual({ code: 2, stdout: '', stderr });
  });

  test('a clip over --max-clip-bytes is one line naming the slot and the status, exit 4, nothing saved', async () => {
    const slot = sim.config.vehicles.flatMap((vehicle) =>
      sim.truth({ day: DAY, vehicle, camera: 'left-center', from: '09:30', to: '09:35' }),
    )[0];
    if (!slot) throw new Error('the simulator has no data for this test');
    const at = slot.startIso.replace('.000Z', 'Z');
    const r = await runMain(fetchArgs(['--vehicle', slot.vehicle, '--camera', 'left-center', '--at', at, '--max-clip-bytes', '1MB']));
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      new RegExp(
        '^fleetclip: clip body (of \\d+ bytes \\(Content-Length\\) is over the cap of 1000000 bytes: not downloaded|' +
          `over the cap of 1000000 bytes: stopped after \\d+ bytes) \\[${slot.vehicle} left-center ${at}\\] \\(HTTP 200\\)\n$`,
      ),
    );
    expect(await filesUnder(path.join(dir, 'out'))).not.toContain(clipFileName(slot.vehicle, 'left-center', slot.start));
  });

  test('an unreadable token file is one line, exit 2, from the built binary too', async () => {
    const missing = path.join(dir, 'nope');
    const args = [
      'fetch',
      '--api-base',
      sim.baseUrl,
      '--token-file',
      missing,
      '--out',
      dir,
      '--vehicle',
      'mav',
      '--camera',
      'front-center',
      '--at',
      `${DAY}T08:30:00Z`,
    ];
    const r = await runCli(args, { env: { FLEETCLIP_TOKEN: '' } });
    expect(r).toEqual({
      code: 2,
      stdout: '',
      stderr: `fleetclip: cannot read the token file ${missing}: ENOENT; put the Batch API token in it (or set FLEETCLIP_TOKEN)\n`,
    });
  });

  test('--help lists every flag and where the token comes from', async () => {
    const r = await runMain(['fetch', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--api-base',
      '--token-file',
      '--vehicle',
      '--camera',
      '--at',
      '--out',
      '--min-clip-bytes',
      '--max-clip-bytes',
      '--verbose',
    ])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('FLEETCLIP_TOKEN');
    expect(r.stdout).toContain('(default 1000000)');
  });
});

describe('fleetclip token', () => {
  test('prints expiry in UTC and local time and the time left; never the token', async () => {
    const r = await runMain(['token', '--token-file', tokenFile]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      new RegExp(`^token file: ${tokenFile}\nexpires:    \\S+Z \\(UTC\\)\n {12}.+ \\(local\\)\nleft:       (1h59m|2h)\n$`),
    );
  });

  test('an expired token exits 5; a file readable by others gets a warning', async () => {
    const file = path.join(dir, 'old-token');
    writeTokenFile(file, mintToken({ expiresAtSec: Date.now() / 1000 - 90 }));
    await chmod(file, 0o640);
    const r = await runMain(['token', '--token-file', file]);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`fleetclip: warning: ${file} is readable by group or others (mode 0640): chmod 600 ${file}\n`);
    expect(r.stdout).toMatch(/\nleft: {7}EXPIRED 1m3\ds ago: put a new token in .+\n$/);
  });

  test('an opaque token from FLEETCLIP_TOKEN has no known expiry', async () => {
    const saved = process.env.FLEETCLIP_TOKEN;
    process.env.FLEETCLIP_TOKEN = 'opaque-token-value';
    try {
      const r = await runMain(['token']);
      expect(r).toEqual({
        code: 0,
        stderr: '',
        stdout: 'token from: $FLEETCLIP_TOKEN\nexpires:    unknown (not a JWT with an exp claim)\n',
      });
    } finally {
      if (saved === undefined) delete process.env.FLEETCLIP_TOKEN;
      else process.env.FLEETCLIP_TOKEN = saved;
    }
  });
});
