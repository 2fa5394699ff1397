import { stat } from 'node:fs/promises';
import path from 'node:path';
import { type FileModes, fileModesOf } from '../file-modes.js';
import { openReportSource } from '../manifest/index.js';
import { readHtmlReport, renderHtmlReport } from '../report/index.js';
import { writeFileAtomically } from '../storage/index.js';
import type { Io } from './io.js';

/** The report's file name when `--out` is not given or names a folder: beside the manifest, in the run folder. */
export const REPORT_FILE_NAME = 'report.html';

/** Without a terminal, a progress line at most this often (a month's report takes a few seconds: usually none). */
const PROGRESS_LINE_MS = 10_000;
const BAR_WIDTH = 24;

export interface WrittenReport {
  path: string;
  bytes: number;
  ms: number;
}

/** `--out` as given (a folder gets report.html inside it), or `<manifest's folder>/report.html`. */
export async function reportPathFor(manifestPath: string, out: string | undefined): Promise<string> {
  if (out === undefined) return path.join(path.dirname(path.resolve(manifestPath)), REPORT_FILE_NAME);
  const isFolder = await stat(out).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return path.resolve(isFolder ? path.join(out, REPORT_FILE_NAME) : out);
}

/**
 * Reads the manifest (read-only, in short reads), renders the HTML report and writes it whole (temporary, fsync,
 * rename). Progress goes to stderr: a bar on a terminal, a plain line every PROGRESS_LINE_MS otherwise.
 */
export async function writeReportFile(io: Io, manifestPath: string, outPath: string, label: string): Promise<WrittenReport> {
  const started = Date.now();
  const progress = progressOf(io.stderr, label, started);
  const source = openReportSource(manifestPath);
  let html: string;
  let modes: Readonly<FileModes>;
  try {
    modes = fileModesOf(source.settings()); // the report holds what the campaign holds: the campaign's modes
    html = renderHtmlReport(readHtmlReport(source, { onProgress: progress.update }));
  } finally {
    progress.done();
    source.close();
  }
  const bytes = await writeFileAtomically(outPath, html, modes);
  return { path: outPath, bytes, ms: Date.now() - started };
}

function progressOf(out: Io['stderr'], label: string, startedMs: number): { update(read: number, total: number): void; done(): void } {
  let drawn = false;
  let lastMs = startedMs;
  return {
    update(read, total) {
      const now = Date.now();
      const fraction = total > 0 ? read / total : 1;
      if (out.isTTY) {
        const filled = Math.round(fraction * BAR_WIDTH);
        out.write(`\r${label}: reading coverage [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}%`);
        drawn = true;
      } else if (now - lastMs >= PROGRESS_LINE_MS) {
        out.write(`${label}: read the coverage of ${read} of ${total} shards\n`);
        lastMs = now;
      }
    },
    done() {
      if (drawn) out.write('\r\x1b[K');
    },
  };
}
