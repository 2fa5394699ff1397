import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openManifest, openReportSource } from '../../src/manifest/index.js';
import { COVERAGE_STATES, escapeHtml, readHtmlReport, renderHtmlReport } from '../../src/report/index.js';
import { planOffline, slotResults } from '../helpers/offline-campaign.js';

const HOSTILE_ERROR = `slot failed: <script>alert("pwned")</script> & 'more'`;
let dir: string;
let manifestPath: string;

/** A run folder whose name a browser would read as markup; mallory 00:00 done, mav 00:00 failed, both 01:00 pending. */
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), `fc-report-<b>&"'-`));
  manifestPath = path.join(dir, 'run', 'manifest.sqlite');
  await planOffline(manifestPath, dir, {
    hours: '0-2',
    vehicles: 'mallory,mav',
    cameras: 'front,left',
    extra: ['--tz', 'America/Los_Angeles'],
  });
  const m = openManifest(manifestPath);
  const worker = { workerId: 'test-w1', host: 'localhost', pid: process.pid };
  const c1 = m.claimNextShard(worker)!;
  m.recordSlots(c1, [
    ...slotResults(c1, 'front', { from: 0, to: 100 }, 'ok'),
    ...slotResults(c1, 'front', { from: 100, to: 120 }, 'missing'),
    ...slotResults(c1, 'left', { from: 0, to: 120 }, 'ok'),
  ]);
  m.completeShard(c1);
  const c2 = m.claimNextShard(worker)!;
  m.recordSlots(c2, [
    ...slotResults(c2, 'front', { from: 0, to: 3 }, 'ok'),
    ...slotResults(c2, 'front', { from: 3, to: 5 }, 'invalid'),
    ...slotResults(c2, 'left', { from: 0, to: 1 }, 'failed'),
  ]);
  m.failShard(c2, HOSTILE_ERROR);
  m.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function render(): string {
  const source = openReportSource(manifestPath);
  try {
    return renderHtmlReport(readHtmlReport(source));
  } finally {
    source.close();
  }
}

describe('the HTML report', () => {
  test('escapes every string from the manifest: an error text with <script> and a run folder named like markup', () => {
    const html = render();
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain(escapeHtml(HOSTILE_ERROR));
    expect(html).toContain('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#39;more&#39;');
    expect(html).not.toContain(dir);
    expect(html).toContain(escapeHtml(dir));
  });

  test('one timeline row per vehicle and camera, its counts those of the manifest', () => {
    const html = render();
    const rows = [...html.matchAll(/<div class="row[^"]*" data-vehicle="([^"]+)" data-camera="([^"]+)"([^>]*)>/g)].map(
      ([, vehicle, camera, data]) => ({
        row: `${vehicle} ${camera}`,
        ...Object.fromEntries(COVERAGE_STATES.map((s) => [s, Number(new RegExp(`data-${s}="(\\d+)"`).exec(data!)?.[1])])),
      }),
    );
    expect(rows).toEqual([
      { row: 'mallory front', ok: 100, missing: 20, invalid: 0, failed: 0, pending: 120 },
      { row: 'mallory left', ok: 120, missing: 0, invalid: 0, failed: 0, pending: 120 },
      { row: 'mav front', ok: 3, missing: 0, invalid: 2, failed: 0, pending: 235 },
      { row: 'mav left', ok: 0, missing: 0, invalid: 0, failed: 1, pending: 239 },
    ]);
    // two hours of 30 s slots: a column is a slot, ticks on local hours
    expect(html).toContain('viewBox="0 0 240 1"');
    expect(html).toContain('Each column is one 30 s slot.');
    expect(html).toContain('hours in America/Los_Angeles');
    expect(html).toContain('>Nov 17<');
    expect(html).toContain('>01:00<');
  });

  test('a failed shard shows its last error and the command that queues it again: run --retry-failed when run locally', () => {
    const html = render();
    expect(html).toContain('Failed shards (1)');
    expect(html).toContain(escapeHtml(`fleetclip run --manifest '${manifestPath.replace(/'/g, `'\\''`)}' --retry-failed`));
    expect(html).not.toContain('--only');
  });

  test('… and resubmit, all of them or this shard alone, once the campaign went to Slurm', () => {
    const m = openManifest(manifestPath);
    m.recordSubmission({ jobId: '4242', arrayRange: '0-3', atMs: Date.now() });
    m.close();
    const html = render();
    const quoted = `'${manifestPath.replace(/'/g, `'\\''`)}'`;
    expect(html).toContain(escapeHtml(`fleetclip resubmit --manifest ${quoted}</code>`).replace('&lt;/code&gt;', '</code>'));
    expect(html).toContain(escapeHtml(`fleetclip resubmit --manifest ${quoted} --only vehicle=mav,hour=2025-11-17T08:00Z`));
  });

  test('hour ticks follow the local clock across a DST change: the fall-back day has 25 hours, its 02:00 three after midnight', async () => {
    const fallBack = path.join(dir, 'dst', 'manifest.sqlite');
    await planOffline(fallBack, path.join(dir, 'dst'), {
      day: '2025-11-02',
      hours: '0-24',
      vehicles: 'mav',
      cameras: 'front',
      extra: ['--tz', 'America/Los_Angeles'],
    });
    const source = openReportSource(fallBack);
    const html = renderHtmlReport(readHtmlReport(source));
    source.close();
    // 25 hours in 30 s columns would be 3,000: 2 min columns, 750 of them; labels every 2 local hours
    expect(html).toContain('viewBox="0 0 750 1"');
    const ticks = [...html.matchAll(/<span(?: class="d")? style="left:([\d.]+)%">([^<]+)<\/span>/g)].map(
      ([, left, label]) => `${label}@${left}`,
    );
    expect(ticks.slice(0, 3)).toEqual(['Nov 2@0', '02:00@12', '04:00@20']);
    expect(ticks.at(-1)).toBe('Nov 3@100');
    expect(ticks).toHaveLength(13);
  });
});
