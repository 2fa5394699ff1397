import os from 'node:os';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { API_DEFAULTS, assertTokenSourceFiles } from '../../api/index.js';
import { fileModesOf } from '../../file-modes.js';
import { openManifest } from '../../manifest/index.js';
import {
  CAMPAIGN_DEFAULTS as D,
  type CampaignInput,
  MAX_CLIP_BYTES_FACTOR,
  MAX_DAYS,
  extendCampaignSettings,
  planCampaign,
} from '../../plan/index.js';
import { buildPlanPreview, renderPlanOutcome, renderPlanPreview } from '../../report/index.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag } from '../flags.js';

type PlanFlags = CampaignInput & { manifest?: string | string[]; extend?: boolean; dryRun?: boolean; json?: boolean };

const WHAT = 'What to plan:';
const CAMPAIGN = 'Campaign settings (stored in the manifest; workers read them from there):';
const FORECAST = 'Forecast (--dry-run and the summary):';
const TOKEN_SOURCE = 'Token source (what renews the token file; default: nothing, you do):';

export const planCommand: CommandFactory = (io) => ({
  command: 'plan',
  describe: 'split days of clips into per-vehicle, per-hour shards and record them in a new manifest',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 plan --manifest FILE --out DIR --day YYYY-MM-DD [--days N | --to YYYY-MM-DD] --vehicles A,B --cameras C,D --api-base URL [options]\n\n' +
          'Plan a campaign: one shard per vehicle and local hour of each day, all cameras, 120 slots of 30 s per camera. ' +
          'Planning again with the same arguments is a no-op; --extend adds days or vehicles. See docs/campaign.md.',
      )
      .option('manifest', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'the manifest file to create (SQLite)',
        group: WHAT,
      })
      .option('out', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe:
          "output root for the clips (stored relative to the manifest's folder when inside it, so the run folder can be moved; else absolute)",
        group: WHAT,
      })
      .option('day', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'first day, YYYY-MM-DD in --tz; only days before today (UTC) can be planned',
        group: WHAT,
      })
      .option('days', {
        type: 'string',
        requiresArg: true,
        describe: `number of days from --day (default 1, at most ${MAX_DAYS})`,
        group: WHAT,
      })
      .option('to', { type: 'string', requiresArg: true, describe: 'last day, inclusive (instead of --days)', group: WHAT })
      .option('hours', {
        type: 'string',
        requiresArg: true,
        describe: 'local hours FROM-TO of each day, TO excluded, e.g. 8-18 (default all)',
        group: WHAT,
      })
      .option('vehicles', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'comma-separated vehicle names ([A-Za-z0-9][A-Za-z0-9_-]*)',
        group: WHAT,
      })
      .option('cameras', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'comma-separated camera names ([A-Za-z0-9][A-Za-z0-9_-]*)',
        group: WHAT,
      })
      .option('tz', { type: 'string', requiresArg: true, describe: `IANA time zone of the days and hours (default ${D.tz})`, group: WHAT })
      .option('api-base', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'Batch API base URL, http(s)',
        group: CAMPAIGN,
      })
      .option('token-file', {
        type: 'string',
        requiresArg: true,
        describe: `file holding the bearer token; only its path is stored (default ${D.tokenFile})`,
        group: CAMPAIGN,
      })
      .option('token-command', {
        type: 'string',
        requiresArg: true,
        describe:
          'renew the token file with this command (run as `sh -c` in the run folder; stdout: a bare token or JSON {"token", "expiresAt"}); nothing secret on its command line',
        group: TOKEN_SOURCE,
      })
      .option('oauth-token-url', {
        type: 'string',
        requiresArg: true,
        describe: 'renew the token file by OAuth2 client credentials at this token URL (https, or http on loopback)',
        group: TOKEN_SOURCE,
      })
      .option('client-id', { type: 'string', requiresArg: true, describe: 'the OAuth2 client id', group: TOKEN_SOURCE })
      .option('client-secret-file', {
        type: 'string',
        requiresArg: true,
        describe: 'file holding the OAuth2 client secret, owner-only (chmod 600); only its path is stored',
        group: TOKEN_SOURCE,
      })
      .option('scope', { type: 'string', requiresArg: true, describe: 'OAuth2 scope(s) to ask for, space-separated', group: TOKEN_SOURCE })
      .option('on-miss', {
        type: 'string',
        requiresArg: true,
        describe: `after a slot without data: probe-all, skip:SECS or gallop (default ${D.onMiss})`,
        group: CAMPAIGN,
      })
      .option('api-rate', {
        type: 'string',
        requiresArg: true,
        describe: `campaign-wide API requests/s, all workers together (default ${D.apiRate})`,
        group: CAMPAIGN,
      })
      .option('max-concurrent', {
        type: 'string',
        requiresArg: true,
        describe: `clips in flight per worker (default ${D.maxConcurrent})`,
        group: CAMPAIGN,
      })
      .option('min-time-ms', {
        type: 'string',
        requiresArg: true,
        describe: `minimum gap between two requests of one worker, ms (default ${D.minTimeMs})`,
        group: CAMPAIGN,
      })
      .option('bucket-cap', {
        type: 'string',
        requiresArg: true,
        describe: `bytes per download<N> folder, e.g. 10GiB (default ${D.bucketCap})`,
        group: CAMPAIGN,
      })
      .option('workspace-cap', {
        type: 'string',
        requiresArg: true,
        describe: `bytes the output root may hold, e.g. 20GiB (default ${D.workspaceCap})`,
        group: CAMPAIGN,
      })
      .option('max-clip-bytes', {
        type: 'string',
        requiresArg: true,
        describe: `the largest clip body a worker accepts, e.g. 200MB: a longer one is cut off there and its slot fails (default ${MAX_CLIP_BYTES_FACTOR} x --clip-size)`,
        group: CAMPAIGN,
      })
      .option('min-download-rate', {
        type: 'string',
        requiresArg: true,
        describe: `the slowest a clip may arrive, bytes/s, e.g. 64KiB: a transfer that falls behind it (after ${API_DEFAULTS.downloadAllowanceMs / 1000} s of allowance) is cut and retried (default ${API_DEFAULTS.minDownloadBytesPerSec / 1024}KiB)`,
        group: CAMPAIGN,
      })
      .option('journal', {
        type: 'string',
        requiresArg: true,
        describe: `manifest journal: delete (shared filesystems) or wal (one host only) (default ${D.journal})`,
        group: CAMPAIGN,
      })
      .option('share-with-group', {
        type: 'boolean',
        describe:
          "the run folder, manifest, receipts, logs and clips the campaign creates are group-readable and -writable (folders 2770, files 0660: the group's members can run workers too) instead of owner-only (0700, 0600)",
        group: CAMPAIGN,
      })
      .option('insecure-http', {
        type: 'boolean',
        describe: 'allow a plain http:// --api-base beyond loopback (the token then travels unencrypted)',
        group: CAMPAIGN,
      })
      .option('clip-size', {
        type: 'string',
        requiresArg: true,
        describe: `expected size of one clip (default ${D.clipSize})`,
        group: FORECAST,
      })
      .option('ready-time', {
        type: 'string',
        requiresArg: true,
        describe: `seconds a clip takes from its request to its file, the API's processing mostly (default ${D.readyTime}); with --max-concurrent and --api-rate it gives each worker's clips/s (Little's law, as workers size their window)`,
        group: FORECAST,
      })
      .option('throughput', {
        type: 'string',
        requiresArg: true,
        describe: 'clips/s one worker finishes, instead of the model (measured on your campaign: status shows clips/min)',
        group: FORECAST,
      })
      .option('su-rate', {
        type: 'string',
        requiresArg: true,
        describe: `service units per core-hour: savio2_htc 1.20, savio3_htc 2.67, savio4_htc 3.67 (default ${D.suRate})`,
        group: FORECAST,
      })
      .option('extend', { type: 'boolean', describe: 'add these days or vehicles to the campaign in --manifest; finished work is kept' })
      .option('dry-run', { type: 'boolean', describe: 'print the shards and the forecast; write nothing' })
      .option('json', { type: 'boolean', describe: 'print JSON (with --dry-run: settings, forecast, shards)' }),
  handler: async (argv: ArgumentsCamelCase<PlanFlags>) => {
    const manifestPath = path.resolve(manifestFlag(argv));
    const planned = planCampaign(argv, {
      nowMs: Date.now(),
      cwd: process.cwd(),
      homeDir: os.homedir(),
      runDir: path.dirname(manifestPath),
    });
    const { tokenSource, tokenFile } = planned.settings;
    if (tokenSource) await assertTokenSourceFiles(tokenSource, tokenFile);
    if (argv.dryRun) {
      const preview = buildPlanPreview(planned);
      io.stdout.write(argv.json ? `${JSON.stringify(preview, null, 2)}\n` : renderPlanPreview(preview));
      return;
    }
    const manifest = openManifest(manifestPath, { create: true, journal: planned.settings.journal, modes: fileModesOf(planned.settings) });
    try {
      const extending = argv.extend === true && manifest.plannedShards().length > 0;
      const settings = extending ? extendCampaignSettings(manifest.settings(), planned.settings) : planned.settings;
      const outcome = manifest.plan(settings, planned.shards, { extend: argv.extend === true });
      io.stdout.write(
        argv.json
          ? `${JSON.stringify({ manifest: manifest.path, ...outcome, forecast: planned.forecast }, null, 2)}\n`
          : renderPlanOutcome(manifest.path, outcome, planned.forecast),
      );
    } finally {
      manifest.close();
    }
  },
});
