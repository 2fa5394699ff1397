import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { submitCampaign } from '../../src/executor/index.js';
import { mintToken } from '../../src/sim/index.js';
import { execaSlurmClient } from '../../src/slurm/index.js';
import { runMain } from '../helpers/cli.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A planned campaign whose token file holds a token valid one hour, with `flags` (a token source, or none). */
async function campaign(flags: (dir: string) => Promise<string[]>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-submit-token-'));
  dirs.push(dir);
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${mintToken({ expiresAtSec: Date.now() / 1000 + 3600 })}\n`, { mode: 0o600 });
  const manifest = path.join(dir, 'run', 'manifest.sqlite');
  const planned = await runMain([
    ...['plan', '--manifest', manifest, '--out', path.join(dir, 'clips'), '--day', '2025-11-17', '--hours', '16-17'],
    ...['--vehicles', 'mav', '--cameras', 'front-center', '--api-base', 'http://127.0.0.1:9', '--token-file', tokenFile],
    ...(await flags(dir)),
  ]);
  expect(planned).toMatchObject({ code: 0 });
  return manifest;
}

/** `submit --dry-run --time 02:00:00` with the local profile; no scheduler needed (scontrol stands in as /bin/false). */
const submitForTwoHours = (manifest: string) =>
  submitCampaign(
    manifest,
    { profile: 'local', time: '02:00:00' },
    { slurm: execaSlurmClient({ bin: { scontrol: '/bin/false' } }), fleetclip: [process.execPath, 'cli.js'] },
    true,
  );

describe('submit and the token', () => {
  test('a token file renewed by hand that expires before --time ends is refused', async () => {
    const manifest = await campaign(async () => []);
    await expect(submitForTwoHours(manifest)).rejects.toThrow(/expires .*, before a task's time limit would end/);
  });

  test('a campaign whose token source renews it may outlive its token', async () => {
    const manifest = await campaign(async () => ['--token-command', 'cat /dev/null']);
    await expect(submitForTwoHours(manifest)).resolves.toMatchObject({ exitCode: 0, dryRun: true });
  });

  test('a client secret file that became readable by others is refused, with the chmod to run', async () => {
    let secret = '';
    const manifest = await campaign(async (dir) => {
      secret = path.join(dir, 'secret');
      await writeFile(secret, 'x\n', { mode: 0o600 });
      return ['--oauth-token-url', 'https://idp.example.com/oauth2/token', '--client-id', 'abc', '--client-secret-file', secret];
    });
    const { chmod } = await import('node:fs/promises');
    await chmod(secret, 0o604);
    await expect(submitForTwoHours(manifest)).rejects.toThrow(`run \`chmod 600 ${secret}\``);
  });
});
