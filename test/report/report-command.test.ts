import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runMain } from '../helpers/cli.js';
import { planOffline } from '../helpers/offline-campaign.js';

let dir: string;
let run: string;
let manifestPath: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fc-report-cmd-'));
  run = path.join(dir, 'run');
  manifestPath = path.join(run, 'manifest.sqlite');
  await planOffline(manifestPath, dir, { hours: '8-10', vehicles: 'mav', cameras: 'front' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fleetclip report', () => {
  test('writes report.html beside the manifest by default; --json says where, how big and how long', async () => {
    const r = await runMain(['report', '--manifest', manifestPath, '--json']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const written = JSON.parse(r.stdout) as { path: string; bytes: number; ms: number };
    expect(written.path).toBe(path.join(run, 'report.html'));
    expect(written.bytes).toBe(statSync(written.path).size);
    expect(written.ms).toBeGreaterThanOrEqual(0);
    expect(readFileSync(written.path, 'utf8')).toMatch(/^<!doctype html>[\s\S]*<\/html>\n$/);
    // written whole under a temporary name first: nothing else is left in the run folder
    expect(readdirSync(run).filter((f) => f.includes('report'))).toEqual(['report.html']);
  });

  test('prints the path alone; --out names the file, or a folder to put report.html in', async () => {
    const file = path.join(dir, 'elsewhere', 'coverage.html');
    expect(await runMain(['report', '--manifest', manifestPath, '--out', file])).toEqual({ code: 0, stdout: `${file}\n`, stderr: '' });
    expect(statSync(file).size).toBeGreaterThan(1000);
    const folder = path.join(dir, 'reports');
    mkdirSync(folder);
    const r = await runMain(['report', '--manifest', manifestPath, '--out', folder]);
    expect(r.stdout).toBe(`${path.join(folder, 'report.html')}\n`);
  });

  test('a destination that cannot be written is one line and exit 6; a missing manifest one line and exit 2', async () => {
    const blocker = path.join(dir, 'a-file');
    writeFileSync(blocker, '');
    const unwritable = await runMain(['report', '--manifest', manifestPath, '--out', path.join(blocker, 'sub', 'report.html')]);
    expect(unwritable).toMatchObject({ code: 6, stdout: '' });
    expect(unwritable.stderr).toMatch(/^fleetclip: cannot create folder .*a-file\/sub: ENOTDIR\n$/);
    const missing = await runMain(['report', '--manifest', path.join(dir, 'nope.sqlite')]);
    expect(missing).toEqual({
      code: 2,
      stdout: '',
      stderr: `fleetclip: no manifest at ${path.join(dir, 'nope.sqlite')}; \`fleetclip plan\` creates one\n`,
    });
  });

  test('--help is paragraphs naming the flags', async () => {
    const r = await runMain(['report', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--manifest', '--out', '--json']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('docs/report.md');
  });
});

describe('fleetclip status --report', () => {
  test('prints the status, then the path of the report it wrote', async () => {
    rmSync(path.join(run, 'report.html'), { force: true });
    const r = await runMain(['status', '--manifest', manifestPath, '--report']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('campaign: 2025-11-17');
    expect(r.stdout.endsWith(`report: ${path.join(run, 'report.html')}\n`)).toBe(true);
    expect(statSync(path.join(run, 'report.html')).size).toBeGreaterThan(1000);
  });

  test('a report that cannot be written: the status is printed all the same, then one line, exit 6', async () => {
    const notAFolder = path.join(dir, 'plain-file');
    writeFileSync(notAFolder, 'x');
    const r = await runMain(['status', '--manifest', manifestPath, '--report', path.join(notAFolder, 'r.html')]);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('campaign: 2025-11-17');
    expect(r.stderr).toMatch(/^fleetclip: cannot [^\n]*plain-file[^\n]*\n$/);
  });

  test('with --json the document carries the report written to FILE', async () => {
    const file = path.join(dir, 'status-report.html');
    const r = await runMain(['status', '--manifest', manifestPath, '--report', file, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { htmlReport: { path: string; bytes: number } };
    expect(doc.htmlReport).toMatchObject({ path: file, bytes: statSync(file).size });
  });

  test('refuses --watch: a report is written once', async () => {
    expect(await runMain(['status', '--manifest', manifestPath, '--report', '--watch', '5'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'fleetclip: --report writes the report once: leave out --watch (or use --wait)\n',
    });
  });
});
