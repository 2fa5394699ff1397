import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { openManifest } from '../../src/manifest/index.js';
import { COVERAGE_STATES, type CoverageState, type StateCounts } from '../../src/report/index.js';
import { runCli, runMain } from '../helpers/cli.js';
import { WORKER_FLAGS, planArgs, plannedCampaign, type Campaign } from '../worker/campaign.js';

/** Debian's `chromium`: scripts/test.sh installs it as root on Debian; elsewhere this test is skipped and says so. */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test/artifacts');
/** Chromium on a closed network: no background connections, no sandbox as root (the machine's note on headless Chromium) */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const VEHICLES = ['mav', 'megalodon'];
const EXTRA_VEHICLE = 'metatron';
const CAMERAS = ['front-center', 'left-center'];

/** the one browser global the page functions use (this project's tsconfig has no DOM library) */
type BrowserWindow = {
  getComputedStyle(element: unknown): { fill: string; stroke: string };
  document: {
    elementFromPoint(
      x: number,
      y: number,
    ): { tagName: string; querySelector(selector: string): { textContent: string | null } | null } | null;
  };
};

const describeWithChromium = existsSync(CHROMIUM) ? describe : describe.skip;
const title = `the HTML report in headless Chromium${existsSync(CHROMIUM) ? '' : ` — skipped: no chromium (${CHROMIUM})`}`;

let campaign: Campaign | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
});

/** What the manifest says of every vehicle and camera: slots per outcome, and the planned ones without one as pending. */
function manifestCounts(manifestPath: string): Map<string, StateCounts> {
  const m = openManifest(manifestPath, { readonly: true });
  try {
    const rows = new Map<string, StateCounts>();
    const rowOf = (vehicle: string, camera: string) => {
      const key = `${vehicle} ${camera}`;
      if (!rows.has(key)) rows.set(key, { ok: 0, missing: 0, invalid: 0, failed: 0, pending: 0 });
      return rows.get(key)!;
    };
    for (const shard of m.plannedShards()) for (const camera of shard.cameras) rowOf(shard.vehicle, camera).pending += 120;
    for (const c of m.slotCounts()) {
      rowOf(c.vehicle, c.camera)[c.outcome] += c.count;
      rowOf(c.vehicle, c.camera).pending -= c.count;
    }
    return rows;
  } finally {
    m.close();
  }
}

describeWithChromium(title, () => {
  let reportPath: string;

  /** An hour of two vehicles run by two workers against faults that leave invalid slots, then a third vehicle planned and not run. */
  beforeAll(async () => {
    const c = (campaign = await plannedCampaign({
      hours: '16-17',
      vehicles: VEHICLES.join(','),
      cameras: CAMERAS.join(','),
      sim: { faults: { tinyRate: 0.25, rate5xx: 0.05 } },
    }));
    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '2', ...WORKER_FLAGS], { timeoutMs: 150_000 });
    expect(run.stderr).toMatch(/every shard done|shard\(s\) failed/);
    const extended = await runMain([
      ...planArgs(c, { hours: '16-17', vehicles: [...VEHICLES, EXTRA_VEHICLE].join(','), cameras: CAMERAS.join(',') }),
      '--extend',
    ]);
    expect(extended.code).toBe(0);
    const report = await runCli(['report', '--manifest', c.manifest, '--json']);
    expect(report.code).toBe(0);
    reportPath = (JSON.parse(report.stdout) as { path: string }).path;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 200_000);

  test('one timeline row per vehicle and camera; the slots of each colour, and the counts in the hover titles, are the manifest’s', async () => {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(reportPath).href);

    // the legend says which colour is which state
    const legend = await page.$$eval('.lg li[data-state] rect', (rects) =>
      rects.map((r) => [r.closest('li')!.getAttribute('data-state')!, (globalThis as unknown as BrowserWindow).getComputedStyle(r).fill]),
    );
    const stateOfColour = new Map(legend.map(([state, fill]) => [fill!, state as CoverageState]));
    expect(stateOfColour.size).toBe(COVERAGE_STATES.length);

    const rows = await page.$$eval('.row[data-vehicle]', (divs) =>
      divs.map((div) => ({
        row: `${div.getAttribute('data-vehicle')} ${div.getAttribute('data-camera')}`,
        // the colour layer: one path of horizontal strokes per state, `M<from> .5h<columns>` per run of columns
        strokes: [...div.querySelectorAll('path')].map((p) => ({
          colour: (globalThis as unknown as BrowserWindow).getComputedStyle(p).stroke,
          columns: [...(p.getAttribute('d') ?? '').matchAll(/h(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0),
        })),
        heightPx: div.querySelector('svg')!.getBoundingClientRect().height,
        // what the pointer meets over column 24 of 120: a hover span's rect, with its title
        hovered: (() => {
          const box = div.querySelector('svg')!.getBoundingClientRect();
          const hit = (globalThis as unknown as BrowserWindow).document.elementFromPoint(
            box.x + (box.width * 24.5) / 120,
            box.y + box.height / 2,
          );
          return `${hit?.tagName} ${hit?.querySelector('title')?.textContent ?? ''}`;
        })(),
        // the hover layer: a title per span
        titles: [...div.querySelectorAll('rect > title')].map((t) => t.textContent ?? ''),
      })),
    );
    const expected = manifestCounts(campaign!.manifest);
    expect(rows.map((r) => r.row)).toEqual([...VEHICLES, EXTRA_VEHICLE].flatMap((v) => CAMERAS.map((c) => `${v} ${c}`)));
    expect(rows.map((r) => r.row)).toEqual([...expected.keys()].sort());

    for (const { row, strokes, titles, heightPx, hovered } of rows) {
      expect(heightPx).toBeGreaterThan(5);
      expect(hovered).toMatch(/^rect Nov 17 16:12:00–16:12:30: 1 (ok|no data|invalid|failed|pending)$/);
      // an hour of 30 s slots: every column is one slot, so the columns of a colour are the slots of its state
      const coloured: StateCounts = { ok: 0, missing: 0, invalid: 0, failed: 0, pending: 0 };
      for (const stroke of strokes) {
        coloured[stateOfColour.get(stroke.colour)!] += stroke.columns;
      }
      const titled: StateCounts = { ok: 0, missing: 0, invalid: 0, failed: 0, pending: 0 };
      for (const title of titles)
        for (const state of COVERAGE_STATES) {
          const label = state === 'missing' ? 'no data' : state;
          titled[state] += Number(new RegExp(`(\\d+) ${label}`).exec(title)?.[1] ?? 0);
        }
      expect(titles).toHaveLength(120);
      expect({ row, ...coloured }).toEqual({ row, ...expected.get(row) });
      expect({ row, ...titled }).toEqual({ row, ...expected.get(row) });
    }
    // the run left something of each kind to look at: clips, gaps, invalid slots; the new vehicle all pending
    const totals: StateCounts = { ok: 0, missing: 0, invalid: 0, failed: 0, pending: 0 };
    for (const counts of expected.values()) for (const state of COVERAGE_STATES) totals[state] += counts[state];
    expect(totals.ok).toBeGreaterThan(0);
    expect(totals.missing).toBeGreaterThan(0);
    expect(totals.pending).toBe(2 * 120);

    // self-contained: the page asked for nothing but itself
    expect(requests).toEqual([pathToFileURL(reportPath).href]);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
    await page.close();
  }, 60_000);
});
