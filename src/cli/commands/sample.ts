import { randomInt } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { SAMPLE_DEFAULTS, type SampleInput, planSample } from '../../plan/index.js';
import {
  CAMPAIGN_GROUP,
  FORECAST_GROUP,
  TOKEN_SOURCE_GROUP,
  apiFlags,
  fleetFlags,
  forecastFlags,
  newCampaignFlags,
  storedSettingFlags,
  tokenSourceFlags,
} from '../campaign-flags.js';
import { manifestFlag } from '../flags.js';
import type { CommandFactory } from '../main.js';
import { previewOrRecord } from './plan.js';

type SampleFlags = SampleInput & { manifest?: string | string[]; dryRun?: boolean; json?: boolean };

const WHAT = 'What to sample:';

export const sampleCommand: CommandFactory = (io) => ({
  command: 'sample',
  describe: 'draw N random 30 s slots per vehicle and camera from the last days and record them as a campaign',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 sample --manifest FILE --out DIR --n N --lookback 5d [--seed S] [--min-gap DUR] --vehicles A,B --cameras C,D --api-base URL [options]\n\n' +
          'Draws --n random 30 s slots for each vehicle and camera from the --lookback before the start of today (UTC; the Batch API serves only past days), ' +
          'at least --min-gap apart, and records them as a campaign in a new manifest: shards of one vehicle-hour that hold only the drawn slots, the same layout and workers as a planned campaign. ' +
          '`fleetclip run` or `submit` then downloads those of them that have data. The same flags with the same --seed draw the same slots on the same UTC day; ' +
          'without --seed a random one is drawn and printed. Durations: 5d, 36h, 90m, 4m05s or seconds. See docs/sample.md.',
      )
      .options({
        ...newCampaignFlags(WHAT),
        n: { type: 'string', requiresArg: true, demandOption: true, describe: 'slots to draw per vehicle and camera', group: WHAT },
        lookback: {
          type: 'string',
          requiresArg: true,
          demandOption: true,
          describe: 'how far back from the start of today (UTC) to draw from, e.g. 5d or 36h',
          group: WHAT,
        },
        seed: {
          type: 'string',
          requiresArg: true,
          describe: 'a whole number: the same seed draws the same slots (default: a random one, printed)',
          group: WHAT,
        },
        'min-gap': {
          type: 'string',
          requiresArg: true,
          describe: `two slots of one vehicle and camera start at least this far apart, e.g. 10m (default ${SAMPLE_DEFAULTS.minGap})`,
          group: WHAT,
        },
        ...fleetFlags(WHAT, true),
        ...apiFlags(CAMPAIGN_GROUP, true),
        ...tokenSourceFlags(TOKEN_SOURCE_GROUP),
        ...storedSettingFlags(CAMPAIGN_GROUP),
        ...forecastFlags(FORECAST_GROUP),
      })
      .option('dry-run', { type: 'boolean', describe: 'print the drawn slots and the forecast; write nothing' })
      .option('json', { type: 'boolean', describe: 'print JSON (with --dry-run: settings, forecast, shards with their slots)' }),
  handler: async (argv: ArgumentsCamelCase<SampleFlags>) => {
    const manifestPath = path.resolve(manifestFlag(argv));
    const planned = planSample(
      // a draw is always reproducible: without --seed, the seed is drawn here and stored and printed with the sample
      { ...argv, seed: argv.seed ?? randomInt(2 ** 31) },
      { nowMs: Date.now(), cwd: process.cwd(), homeDir: os.homedir(), runDir: path.dirname(manifestPath) },
    );
    await previewOrRecord(io, manifestPath, planned, argv);
  },
});
