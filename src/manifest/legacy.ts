import { parseOnMiss } from '../plan/grammar.js';
import type { CampaignSettings } from '../plan/types.js';

/**
 * What manifests, receipts and campaign records older than schema v5 (receipt format v2) hold differently. Only the
 * v5 migration and the readers of old receipts and old `campaign.json` files meet these forms; everything else speaks
 * of buckets and parsed settings.
 */

/** N of `.../<vehicle>/download<N>/...`, the bucket folder the path lies in, if any. */
export function bucketOfLegacyPath(file: string, vehicle: string): number | undefined {
  const parts = file.split(/[\\/]/);
  for (let i = 1; i < parts.length; i++) {
    const m = parts[i - 1] === vehicle ? /^download(\d+)$/.exec(parts[i]!) : null;
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * Settings as planned before v5 held `onMiss` as its text (`gallop`, `skip:300`); since v5 they hold the parsed form,
 * so no reader parses it again. Settings already in the new form pass unchanged.
 */
export function upgradeLegacySettings(settings: CampaignSettings): CampaignSettings {
  const onMiss: unknown = settings.onMiss;
  return typeof onMiss === 'string' ? { ...settings, onMiss: parseOnMiss(onMiss) } : settings;
}
