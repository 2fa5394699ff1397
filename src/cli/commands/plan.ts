import os from 'node:os';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { assertTokenSourceFiles } from '../../api/index.js';
import { fileModesOf } from '../../file-modes.js';
import { openManifest } from '../../manifest/index.js';
import {
  CAMPAIGN_DEFAULTS as D,
  type CampaignInput,
  type PlannedCampaign,
  extendCampaignSettings,
  planCampaign,
} from '../../plan/index.js';
import { buildPlanPreview, renderPlanOutcome, renderPlanPreview } from '../../report/index.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import {
  CAMPAIGN_GROUP,
  FORECAST_GROUP,
  TOKEN_SOURCE_GROUP,
  apiFlags,
  dayFlags,
  fleetFlags,
  forecastFlags,
  newCampaignFlags,
  storedSettingFlags,
  tokenSourceFlags,
} from '../campaign-flags.js';
import { manifestFlag } from '../flags.js';

type PlanFlags = CampaignInput & { manifest?: string | string[]; extend?: boolean; dryRun?: boolean; json?: boolean };

const WHAT = 'What to plan:';

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
      .options({
        ...newCampaignFlags(WHAT),
        ...dayFlags(WHAT, true),
        ...fleetFlags(WHAT, true),
        ...apiFlags(CAMPAIGN_GROUP, true),
        ...tokenSourceFlags(TOKEN_SOURCE_GROUP),
        'on-miss': {
          type: 'string',
          requiresArg: true,
          describe: `after a slot without data: probe-all, skip:SECS or gallop (default ${D.onMiss})`,
          group: CAMPAIGN_GROUP,
        },
        ...storedSettingFlags(CAMPAIGN_GROUP),
        ...forecastFlags(FORECAST_GROUP),
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
    await previewOrRecord(io, manifestPath, planned, argv);
  },
});

/**
 * `--dry-run`: the campaign, its shards and the forecast, nothing written. Else the campaign goes into the manifest
 * (created if new; with `extend`, its days and vehicles joined to those it has) and the outcome is printed.
 */
export async function previewOrRecord(
  io: Io,
  manifestPath: string,
  planned: PlannedCampaign,
  flags: { dryRun?: boolean; json?: boolean; extend?: boolean },
): Promise<void> {
  const { tokenSource, tokenFile } = planned.settings;
  if (tokenSource) await assertTokenSourceFiles(tokenSource, tokenFile);
  if (flags.dryRun) {
    const preview = buildPlanPreview(planned);
    io.stdout.write(flags.json ? `${JSON.stringify(preview, null, 2)}\n` : renderPlanPreview(preview));
    return;
  }
  const manifest = openManifest(manifestPath, { create: true, journal: planned.settings.journal, modes: fileModesOf(planned.settings) });
  try {
    const extending = flags.extend === true && manifest.plannedShards().length > 0;
    const settings = extending ? extendCampaignSettings(manifest.settings(), planned.settings) : planned.settings;
    const outcome = manifest.plan(settings, planned.shards, { extend: flags.extend === true });
    const { sample } = planned.settings;
    io.stdout.write(
      flags.json
        ? `${JSON.stringify({ manifest: manifest.path, ...outcome, forecast: planned.forecast, ...(sample && { sample }) }, null, 2)}\n`
        : renderPlanOutcome(manifest.path, outcome, planned.forecast, sample),
    );
  } finally {
    manifest.close();
  }
}
