import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { runMain } from '../helpers/cli.js';
import { TmpfsMounts, whyNoTmpfs } from '../helpers/mounts.js';
import { plannedWithWork, tempRun } from './helpers.js';

const runs: string[] = [];
const mounts = new TmpfsMounts();
afterEach(() => mounts.unmountAll());
afterAll(() => {
  mounts.unmountAll();
  runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

/** A run folder with a campaign that has done some work and has then lost its manifest (truncated to 0 bytes). */
function lostManifest(run = tempRun()): { run: string; file: string } {
  const file = plannedWithWork(runs, run);
  fs.truncateSync(file, 0);
  return { run, file };
}

function editCampaignFile(run: string, edit: (record: { settings: Record<string, unknown>; shards: unknown[][] }) => void): void {
  const file = path.join(run, 'campaign.json');
  const record = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(record);
  fs.writeFileSync(file, JSON.stringify(record));
}

describe('manifest rebuild refuses what it cannot trust and leaves nothing half-built', () => {
  test.each(['off', 'memory', 'delete; DROP TABLE shard'])(
    'a journal mode %j in campaign.json is refused before anything is written: exit 7, one line',
    async (journal) => {
      const { run, file } = lostManifest();
      editCampaignFile(run, (record) => (record.settings.journal = journal));
      const before = fs.readdirSync(run).sort();
      const r = await runMain(['manifest', 'rebuild', '--manifest', file]);
      expect(r).toMatchObject({ code: 7, stdout: '' });
      expect(r.stderr).toBe(`fleetclip: ${run}/campaign.json: journal must be delete or wal, got '${journal}'\n`);
      expect(fs.readdirSync(run).sort()).toEqual(before);
    },
  );

  /** The rebuild fails with one line saying `why`; the lost manifest stays as it was and no half-built file is left. */
  async function expectFailedRebuild({ run, file }: { run: string; file: string }, why: string): Promise<void> {
    const r = await runMain(['manifest', 'rebuild', '--manifest', file]);
    expect(r.stderr).toBe(`fleetclip: cannot rebuild ${file}, nothing was changed: ${why}\n`);
    expect(r.code).toBe(7);
    expect(fs.readdirSync(run).filter((name) => name.includes('.rebuild-'))).toEqual([]);
    expect(fs.statSync(file).size).toBe(0);
  }

  test('a shard without its hour in campaign.json fails the rebuild midway: exit 7, one line, no .rebuild-<pid> file left', async () => {
    const lost = lostManifest();
    editCampaignFile(lost.run, (record) => (record.shards[1]![2] = null));
    await expectFailedRebuild(lost, 'NOT NULL constraint failed: shard.hour_start');
  });

  const noTmpfs = whyNoTmpfs();
  (noTmpfs ? test.skip : test)(
    `a full disk fails the rebuild midway: exit 7, one line, no .rebuild-<pid> file left${noTmpfs ? ` (skipped: ${noTmpfs})` : ''}`,
    async () => {
      const run = tempRun();
      mounts.mount(run, 'size=1m');
      const lost = lostManifest(run);
      const { bavail, bsize } = fs.statfsSync(run);
      fs.writeFileSync(path.join(run, 'ballast'), Buffer.alloc(bavail * bsize - 8192)); // two pages left for the new manifest
      await expectFailedRebuild(lost, 'database or disk is full');
    },
  );
});
