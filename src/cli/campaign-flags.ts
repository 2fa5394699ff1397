import type { Options } from 'yargs';
import { API_DEFAULTS } from '../api/index.js';
import { CAMPAIGN_DEFAULTS as D, MAX_CLIP_BYTES_FACTOR, MAX_DAYS } from '../plan/index.js';

/**
 * The yargs side of the campaign flags `plan`, `sample` and `scan` share: one description per flag, grouped as the
 * command's help groups them, for `y.options({...})`. Parsing stays in src/plan (one parser per option); these only
 * declare the flags. `required` marks the flags a command cannot do without (`scan` needs none with `--manifest`).
 */
type Flags = Record<string, Options>;

/** The help groups of a command that records a campaign (`plan`, `sample`). */
export const CAMPAIGN_GROUP = 'Campaign settings (stored in the manifest; workers read them from there):';
export const FORECAST_GROUP = 'Forecast (--dry-run and the summary):';
export const TOKEN_SOURCE_GROUP = 'Token source (what renews the token file; default: nothing, you do):';

const text = (group: string, describe: string, demandOption = false): Options => ({
  type: 'string',
  requiresArg: true,
  demandOption,
  describe,
  group,
});

/** `--vehicles`, `--cameras`. */
export const fleetFlags = (group: string, required: boolean): Flags => ({
  vehicles: text(group, 'comma-separated vehicle names ([A-Za-z0-9][A-Za-z0-9_-]*)', required),
  cameras: text(group, 'comma-separated camera names ([A-Za-z0-9][A-Za-z0-9_-]*)', required),
});

/** `--day`, `--days`, `--to`, `--hours`, `--tz`: the days and hours of a window. */
export const dayFlags = (group: string, required: boolean): Flags => ({
  day: text(group, 'first day, YYYY-MM-DD in --tz; the Batch API serves only days before today (UTC)', required),
  days: text(group, `number of days from --day (default 1, at most ${MAX_DAYS})`),
  to: text(group, 'last day, inclusive (instead of --days)'),
  hours: text(group, 'local hours FROM-TO of each day, TO excluded, e.g. 8-18 (default all)'),
  tz: text(group, `IANA time zone of the days and hours (default ${D.tz})`),
});

/** `--api-base`, `--token-file`. */
export const apiFlags = (group: string, required: boolean): Flags => ({
  'api-base': text(group, 'Batch API base URL, http(s)', required),
  'token-file': text(group, `file holding the bearer token; a campaign stores only its path (default ${D.tokenFile})`),
});

/** `--token-command`, or `--oauth-token-url` with `--client-id`, `--client-secret-file`, `--scope`: what renews the token file. */
export const tokenSourceFlags = (group: string): Flags => ({
  'token-command': text(
    group,
    'renew the token file with this command (run as `sh -c` in the run folder; stdout: a bare token or JSON {"token", "expiresAt"}); nothing secret on its command line',
  ),
  'oauth-token-url': text(group, 'renew the token file by OAuth2 client credentials at this token URL (https, or http on loopback)'),
  'client-id': text(group, 'the OAuth2 client id'),
  'client-secret-file': text(group, 'file holding the OAuth2 client secret, owner-only (chmod 600); only its path is stored'),
  scope: text(group, 'OAuth2 scope(s) to ask for, space-separated'),
});

/** `--api-rate`. */
export const apiRateFlag = (group: string): Flags => ({
  'api-rate': text(group, `campaign-wide API requests/s, all workers together (default ${D.apiRate})`),
});

/** The settings a manifest stores beside the window, the strategy and the API: pacing, caps, journal, file modes, plain http. */
export const storedSettingFlags = (group: string): Flags => ({
  ...apiRateFlag(group),
  'max-concurrent': text(group, `clips in flight per worker (default ${D.maxConcurrent})`),
  'min-time-ms': text(group, `minimum gap between two requests of one worker, ms (default ${D.minTimeMs})`),
  'bucket-cap': text(group, `bytes per download<N> folder, e.g. 10GiB (default ${D.bucketCap})`),
  'workspace-cap': text(group, `bytes the output root may hold, e.g. 20GiB (default ${D.workspaceCap})`),
  'max-clip-bytes': text(
    group,
    `the largest clip body a worker accepts, e.g. 200MB: a longer one is cut off there and its slot fails (default ${MAX_CLIP_BYTES_FACTOR} x --clip-size)`,
  ),
  'min-download-rate': text(
    group,
    `the slowest a clip may arrive, bytes/s, e.g. 64KiB: a transfer that falls behind it (after ${API_DEFAULTS.downloadAllowanceMs / 1000} s of allowance) is cut and retried (default ${API_DEFAULTS.minDownloadBytesPerSec / 1024}KiB)`,
  ),
  journal: text(group, `manifest journal: delete (shared filesystems) or wal (one host only) (default ${D.journal})`),
  'share-with-group': {
    type: 'boolean',
    describe:
      "the run folder, manifest, receipts, logs and clips the campaign creates are group-readable and -writable (folders 2770, files 0660: the group's members can run workers too) instead of owner-only (0700, 0600)",
    group,
  },
  'insecure-http': {
    type: 'boolean',
    describe: 'allow a plain http:// --api-base beyond loopback (the token then travels unencrypted)',
    group,
  },
});

/** `--clip-size`, `--ready-time`, `--throughput`, `--su-rate`: what the forecast assumes. */
export const forecastFlags = (group: string): Flags => ({
  'clip-size': text(group, `expected size of one clip (default ${D.clipSize})`),
  'ready-time': text(
    group,
    `seconds a clip takes from its request to its file, the API's processing mostly (default ${D.readyTime}); with --max-concurrent and --api-rate it gives each worker's clips/s (Little's law, as workers size their window)`,
  ),
  throughput: text(group, 'clips/s one worker finishes, instead of the model (measured on your campaign: status shows clips/min)'),
  'su-rate': text(group, `service units per core-hour: savio2_htc 1.20, savio3_htc 2.67, savio4_htc 3.67 (default ${D.suRate})`),
});

/** `--manifest` of a command that creates one, and `--out`: where a new campaign is recorded and its clips go. */
export const newCampaignFlags = (group: string): Flags => ({
  manifest: text(group, 'the manifest file to create (SQLite)', true),
  out: text(
    group,
    "output root for the clips (stored relative to the manifest's folder when inside it, so the run folder can be moved; else absolute)",
    true,
  ),
});
