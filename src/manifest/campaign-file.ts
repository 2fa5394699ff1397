import fs from 'node:fs';
import path from 'node:path';
import { ManifestError } from '../errors.js';
import { fileModesOf, openCreatingSync } from '../file-modes.js';
import { JOURNAL_MODES, type CampaignSettings, type SlotSelection } from '../plan/types.js';
import { upgradeLegacySettings } from './legacy.js';
import type { PlannedShard } from './types.js';

export const CAMPAIGN_FILE = 'campaign.json';
const FORMAT = 'fleetclip-campaign';

/** The plan as `manifest rebuild` needs it: settings and every shard with its id. */
export interface CampaignRecord {
  settings: CampaignSettings;
  shards: PlannedShard[];
}

function campaignFilePath(runDir: string): string {
  return path.join(runDir, CAMPAIGN_FILE);
}

/** Written whole to a temporary file, fsynced, then renamed over the old one: never half a plan. */
export function writeCampaignFile(runDir: string, record: CampaignRecord): void {
  const file = campaignFilePath(runDir);
  const tmp = `${file}.tmp-${process.pid}`;
  // a sample campaign's shard carries its selection as a fifth element
  const shards = record.shards.map((s) => [s.id, s.vehicle, s.hourStart, s.cameras, ...(s.slots ? [s.slots] : [])]);
  const text = `{"format":"${FORMAT}","version":1,\n"settings":${JSON.stringify(record.settings)},\n"shards":[\n${shards
    .map((s) => JSON.stringify(s))
    .join(',\n')}\n]}\n`;
  const { fd } = openCreatingSync(tmp, 'w', fileModesOf(record.settings));
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function readCampaignFile(runDir: string): CampaignRecord {
  const file = campaignFilePath(runDir);
  let parsed: {
    format?: string;
    version?: number;
    settings?: CampaignSettings;
    shards?: [number, string, number, string[], SlotSelection?][];
  };
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ManifestError(`cannot read the campaign record ${file}: ${(err as Error).message}`, { path: file }, { cause: err });
  }
  if (parsed.format !== FORMAT || parsed.version !== 1 || !parsed.settings || !Array.isArray(parsed.shards)) {
    throw new ManifestError(`${file} is not a fleetclip campaign record (format ${FORMAT} v1)`, { path: file });
  }
  // a rebuild puts the journal mode into a pragma's text: only the known modes, whatever an edited file holds
  if (!JOURNAL_MODES.some((mode) => mode === parsed.settings?.journal))
    throw new ManifestError(`${file}: journal must be ${JOURNAL_MODES.join(' or ')}, got '${String(parsed.settings.journal)}'`, {
      path: file,
    });
  return {
    settings: upgradeLegacySettings(parsed.settings),
    shards: parsed.shards.map(([id, vehicle, hourStart, cameras, slots]) => ({ id, vehicle, hourStart, cameras, ...(slots && { slots }) })),
  };
}
