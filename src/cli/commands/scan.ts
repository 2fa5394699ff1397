import os from 'node:os';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { EXIT } from '../../errors.js';
import {
  CAMPAIGN_DEFAULTS,
  SCAN_DEFAULTS,
  type ScanInput,
  type ScanPacing,
  formatOnMiss,
  planScan,
  refuseWindowWithManifest,
  scanPacingOf,
} from '../../plan/index.js';
import { ScanSummary, renderScanText } from '../../report/index.js';
import { type ProgressMode, type ScanTarget, WORKER_DEFAULTS, runScan } from '../../worker/index.js';
import { apiFlags, dayFlags, fleetFlags } from '../campaign-flags.js';
import { manifestFlag, progressFlags, single } from '../flags.js';
import type { CommandFactory } from '../main.js';

type ScanFlags = ScanInput & { manifest?: string | string[]; json?: boolean; progress?: ProgressMode; progressInterval?: number };

const WINDOW = 'What to scan (the flags of plan), or --manifest:';
const HOW = 'How to ask:';

export const scanCommand: CommandFactory = (io) => ({
  command: 'scan',
  describe: 'which slots have data, without downloading: per vehicle and camera, covered minutes and runs of data',
  builder: (y: Argv) =>
    progressFlags(
      y
        .usage(
          '$0 scan --day YYYY-MM-DD [--days N | --to YYYY-MM-DD] [--hours A-B] [--tz ZONE] --vehicles A,B --cameras C,D --api-base URL [options]\n' +
            '$0 scan --manifest FILE [options]\n\n' +
            'Asks the Batch API (/v1/video) whether each 30 s slot has data, and downloads nothing: a 404 is no data. ' +
            "Prints, per vehicle and camera, the slots with data, the minutes they cover and each run of data (first and last time, in --tz or the campaign's time zone); --json for scripts. " +
            "With --manifest it scans the campaign's slots (a sample's too) within the campaign's request budget, shared with its workers, and records each answer in the manifest: a later run or submit does not ask again for the slots found without data, and a scan stopped halfway goes on where it stopped. " +
            "Every request the API answers with a clip starts a processing job on the vendor's side: a scan costs about one request per slot and camera (fewer with --on-miss gallop) and that many jobs per slot with data. " +
            'Exit 1 when some slots could not be checked. See docs/scan.md.',
        )
        .options({
          ...dayFlags(WINDOW, false),
          ...fleetFlags(WINDOW, false),
          ...apiFlags(WINDOW, false),
          'insecure-http': {
            type: 'boolean',
            describe:
              'allow a plain http:// --api-base beyond loopback (the token then travels unencrypted); with --manifest the campaign says',
            group: WINDOW,
          },
          manifest: {
            type: 'string',
            requiresArg: true,
            describe: "scan this campaign's slots and record the answers in it, instead of a window given by flags",
            group: WINDOW,
          },
        })
        .options({
          'api-rate': {
            type: 'string',
            requiresArg: true,
            describe: `requests/s of this scan, without --manifest (default ${CAMPAIGN_DEFAULTS.apiRate}); with --manifest the campaign's budget paces it`,
            group: HOW,
          },
          'on-miss': {
            type: 'string',
            requiresArg: true,
            describe: `after a slot without data: probe-all (every slot asked), gallop (fewer requests, strides over gaps) or skip:SECS (default ${SCAN_DEFAULTS.onMiss})`,
            group: HOW,
          },
          concurrency: {
            type: 'string',
            requiresArg: true,
            describe: `requests in flight at once (default ${SCAN_DEFAULTS.concurrency})`,
            group: HOW,
          },
        })
        .option('json', { type: 'boolean', describe: 'print the report as JSON (docs/scan.md has its schema)' }),
      WORKER_DEFAULTS,
    ),
  handler: async (argv: ArgumentsCamelCase<ScanFlags>) => {
    const context = { nowMs: Date.now(), cwd: process.cwd(), homeDir: os.homedir() };
    let target: ScanTarget;
    let pacing: ScanPacing;
    if (argv.manifest !== undefined) {
      refuseWindowWithManifest(argv);
      pacing = scanPacingOf(argv, context);
      target = { kind: 'manifest', manifestPath: path.resolve(manifestFlag(argv)) };
    } else {
      const plan = (pacing = planScan(argv, context));
      const { shards, timeZone } = plan.window;
      target = { kind: 'window', apiBase: plan.apiBase, tokenFile: plan.tokenFile, apiRatePerSec: plan.apiRatePerSec, timeZone, shards };
    }
    const progressIntervalSeconds = single('progress-interval', argv.progressInterval);
    const summary = new ScanSummary();
    const result = await runScan(
      {
        target,
        strategy: pacing.onMiss,
        concurrency: pacing.concurrency,
        progress: single('progress', argv.progress) ?? WORKER_DEFAULTS.progress,
        progressIntervalMs: (progressIntervalSeconds ?? WORKER_DEFAULTS.progressIntervalMs / 1000) * 1000,
        onShard: (scan) => summary.add(scan.slots),
      },
      io,
    );
    const report = summary.report({
      ...result,
      strategy: formatOnMiss(pacing.onMiss),
      ...(target.kind === 'manifest' && { manifest: target.manifestPath }),
    });
    io.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : renderScanText(report));
    if (result.unknown > 0) io.exitCode = EXIT.someFailed;
  },
});
