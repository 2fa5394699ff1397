import { UsageError } from '../errors.js';
import type { CampaignSettings } from './types.js';

/** The flag behind each setting, for messages. */
const FLAG_OF: Record<keyof CampaignSettings, string> = {
  apiBase: '--api-base',
  tokenFile: '--token-file',
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
  journal: '--journal',
  sample: '--n, --lookback, --seed, --min-gap',
};

const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])].sort();

/**
 * The settings of a campaign extended by `plan --extend`: the union of days and of vehicles. Everything else must
 * be what the campaign already has, so that a forgotten flag cannot silently change a running campaign.
 */
export function extendCampaignSettings(stored: CampaignSettings, extension: CampaignSettings): CampaignSettings {
  const keys = new Set([...Object.keys(stored), ...Object.keys(extension)] as (keyof CampaignSettings)[]);
  const differing = [...keys].filter(
    (key) => key !== 'days' && key !== 'vehicles' && JSON.stringify(stored[key]) !== JSON.stringify(extension[key]),
  );
  if (differing.length > 0) {
    const what = differing.map(
      (key) => `${FLAG_OF[key]} ${JSON.stringify(stored[key] ?? null)} → ${JSON.stringify(extension[key] ?? null)}`,
    );
    throw new UsageError(`--extend adds days or vehicles only, but these differ from the campaign: ${what.join('; ')}`);
  }
  return { ...stored, days: union(stored.days, extension.days), vehicles: union(stored.vehicles, extension.vehicles) };
}
