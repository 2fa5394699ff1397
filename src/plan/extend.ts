import { UsageError } from '../errors.js';
import type { CampaignSettings } from './types.js';

/** The flag behind each setting, for messages. */
const FLAG_OF: Record<keyof CampaignSettings, string> = {
  apiBase: '--api-base',
  tokenFile: '--token-file',
  tokenSource: '--token-command or --oauth-token-url',
  outDir: '--out',
  vehicles: '--vehicles',
  cameras: '--cameras',
  days: '--day',
  hours: '--hours',
  timeZone: '--tz',
  onMiss: '--on-miss',
  apiRatePerSec: '--api-rate',
  maxConcurrent: '--max-concurrent',
  minTimeMs: '--min-time-ms',
  bucketCapBytes: '--bucket-cap',
  workspaceCapBytes: '--workspace-cap',
  clipBytesEstimate: '--clip-size',
  maxClipBytes: '--max-clip-bytes',
  minDownloadBytesPerSec: '--min-download-rate',
  journal: '--journal',
  shareWithGroup: '--share-with-group',
  insecureHttp: '--insecure-http',
  sample: '--n, --lookback, --seed, --min-gap',
};

/**
 * Settings an extension may switch on: giving the flag is never silent, and campaigns planned before the flag existed
 * need a way to it (one with a plain http:// base beyond loopback no longer runs without `--insecure-http`; one
 * shared through a umask makes its new folders owner-only without `--share-with-group`). Never off again.
 */
const OPT_INS = ['insecureHttp', 'shareWithGroup'] as const satisfies readonly (keyof CampaignSettings)[];
const addsOptIn = (key: keyof CampaignSettings, extension: CampaignSettings): boolean =>
  (OPT_INS as readonly string[]).includes(key) && extension[key] === true;

const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])].sort();

/**
 * The settings of a campaign extended by `plan --extend`: the union of days and of vehicles. Everything else must
 * be what the campaign already has, so that a forgotten flag cannot silently change a running campaign.
 */
export function extendCampaignSettings(stored: CampaignSettings, extension: CampaignSettings): CampaignSettings {
  const keys = new Set([...Object.keys(stored), ...Object.keys(extension)] as (keyof CampaignSettings)[]);
  const differing = [...keys].filter(
    (key) =>
      key !== 'days' && key !== 'vehicles' && !addsOptIn(key, extension) && JSON.stringify(stored[key]) !== JSON.stringify(extension[key]),
  );
  if (differing.length > 0) {
    const what = differing.map(
      (key) => `${FLAG_OF[key]} ${JSON.stringify(stored[key] ?? null)} → ${JSON.stringify(extension[key] ?? null)}`,
    );
    throw new UsageError(`--extend adds days or vehicles only, but these differ from the campaign: ${what.join('; ')}`);
  }
  return {
    ...stored,
    days: union(stored.days, extension.days),
    vehicles: union(stored.vehicles, extension.vehicles),
    ...Object.fromEntries(OPT_INS.filter((key) => extension[key] === true).map((key) => [key, true])),
  };
}
