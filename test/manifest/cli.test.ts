import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { runMain } from '../helpers/cli.js';
import { plannedWithWork, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('fleetclip manifest verify | rebuild', () => {
  test('verify says OK; after the file is lost verify exits 7 and rebuild restores it', async () => {
    const file = plannedWithWork(runs);
    const ok = await runMain(['manifest', 'verify', '--manifest', file]);
    expect(ok).toEqual({
      code: 0,
      stderr: '',
      stdout: `${file}: OK (2 shards, 1 slot results, 3 receipts in 1 journals, 0 clips checked on disk)\n`,
    });

    fs.truncateSync(file, 0);
    const bad = await runMain(['manifest', 'verify', '--manifest', file]);
    expect(bad.code).toBe(7);
    expect(bad.stdout).toContain('problem: the manifest cannot be read:');
    expect(bad.stdout).toContain(`The manifest is damaged: stop the workers, then \`fleetclip manifest rebuild --manifest ${file}\`.`);

    const rebuilt = await runMain(['manifest', 'rebuild', '--manifest', file]);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(
      new RegExp(
        `^rebuilt ${file} from campaign.json and 3 receipts: 2 shards, 1 slot results\\nthe old file is kept at ${file}\\.damaged-`,
      ),
    );
    const json = await runMain(['manifest', 'verify', '--manifest', file, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, damaged: false, problems: [] });
    const again = await runMain(['manifest', 'rebuild', '--manifest', file]);
    expect(again.stdout).toContain(
      `${file} left as it is\n  note: the manifest agrees with the receipts; nothing rebuilt (--force rebuilds anyway)`,
    );
  });

  test('usage mistakes exit 2 with one line', async () => {
    expect(await runMain(['manifest', 'verify'])).toMatchObject({ code: 2, stderr: 'fleetclip: Missing required argument: manifest\n' });
    expect((await runMain(['manifest'])).code).toBe(2);
    expect(await runMain(['manifest', 'verify', '--manifest', 'a', '--manifest', 'b'])).toMatchObject({
      code: 2,
      stderr: 'fleetclip: --manifest was given more than once\n',
    });
    expect((await runMain(['manifest', 'fix', '--manifest', 'x'])).code).toBe(2);
    const missing = await runMain(['manifest', 'rebuild', '--manifest', path.join(tempRun(), 'm.sqlite')]);
    expect(missing.code).toBe(7);
    expect(missing.stderr).toMatch(/^fleetclip: cannot read the campaign record .*campaign\.json/);
  });

  test('--help lists the flags', async () => {
    const help = await runMain(['manifest', 'verify', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--manifest', '--checksums', '--json']) expect(help.stdout).toContain(flag);
    expect((await runMain(['manifest', 'rebuild', '--help'])).stdout).toContain('--force');
  });
});

describe('fleetclip doctor', () => {
  test('a temp folder is local disk: not safe for many nodes, exit 1; --json has the report', async () => {
    const run = tempRun();
    runs.push(run);
    const file = path.join(run, 'manifest.sqlite');
    const text = await runMain(['doctor', '--manifest', file]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`manifest    ${file}\n`);
    expect(text.stdout).toContain('lock test   passed\n');
    expect(text.stdout).toContain('verdict     NOT safe for workers on many nodes; workers on this machine only (--executor local)\n');
    const json = await runMain(['doctor', '--manifest', file, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ manifest: file, kind: 'local', safeForManyNodes: false, lockTest: { ok: true } });
    expect(await runMain(['doctor'])).toMatchObject({ code: 2, stderr: 'fleetclip: Missing required argument: manifest\n' });
  });
});
