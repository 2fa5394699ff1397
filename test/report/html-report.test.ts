import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Claim, type SlotResult, openManifest, openReportSource } from '../../src/manifest/index.js';
import { COVERAGE_STATES, escapeHtml, readHtmlReport, renderHtmlReport } from '../../src/report/index.js';
import { runMain } from '../helpers/cli.js';

const HOSTILE_ERROR = `slot failed: <script>alert("pwned")</script> & 'more'`;
let dir: string;
let manifestPath: string;

function results(claim: Claim, camera: string, from: number, to: number, outcome: SlotResult['outcome']): SlotResult[] {
  return Array.from({ length: to - from }, (_, k) => ({
    vehicle: claim.vehicle,
    camera,
    start: claim.hourStart + 30 * (from + k),
    outcome,
    attempts: 1,
    atMs: Date.now(),
    ...(outcome === 'ok' && { bytes: 1000, sha256: 'ab'.repeat(32), bucket: 1 }),
  }));
}

/** A run folder whose name a browser would read as markup; mallory 00:00 done, mav 00:00 failed, both 01:00 pending. */
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), `fc-report-<b>&"'-`));
  manifestPath = path.join(dir, 'run', 'manifest.sqlite');
  const planned = await runMain([
    ...['plan', '--manifest', manifestPath, '--out', path.join(dir, 'out'), '--day', '2025-11-17', '--hours', '0-2'],
    ...[
      '--vehicles',
      'mallory,mav',
      '--cameras',
      'front,left',
      '--api-base',
      'http://127.0.0.1:9',
      '--token-file',
      path.join(dir, 'token'),
    ],
    ...['--tz', 'America/Los_Angeles'],
  ]);
  expect(planned.code).toBe(0);
  const m = openManifest(manifestPath);
  const worker = { workerId: 'test-w1', host: 'localhost', pid: process.pid };
  const c1 = m.claimNextShard(worker)!;
  m.recordSlots(c1, [
    ...results(c1, 'front', 0, 100, 'ok'),
    ...results(c1, 'front', 100, 120, 'missing'),
    ...results(c1, 'left', 0, 120, 'ok'),
  ]);
  m.completeShard(c1);
  const c2 = m.claimNextShard(worker)!;
  m.recordSlots(c2, [
    ...results(c2, 'front', 0, 3, 'ok'),
    ...results(c2, 'front', 3, 5, 'invalid'),
    ...results(c2, 'left', 0, 1, 'failed'),
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
});
