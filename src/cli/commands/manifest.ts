import type { ArgumentsCamelCase, Argv } from 'yargs';
import { EXIT } from '../../errors.js';
import { rebuildManifest, verifyManifest, type RebuildReport, type VerifyReport } from '../../manifest/index.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag } from '../flags.js';

interface ManifestFlags {
  manifest?: string | string[];
  checksums?: boolean;
  force?: boolean;
  json?: boolean;
}

/** Problems listed in text output; --json lists them all. */
const SHOWN_PROBLEMS = 20;

/** yargs demands --manifest; given twice it arrives as an array. */
function renderVerify(r: VerifyReport): string {
  const c = r.counts;
  const what = `${c.shards} shards, ${c.slotResults} slot results, ${c.receipts} receipts in ${c.journals} journals, ${c.filesChecked} clips checked on disk`;
  const lines = [`${r.manifest}: ${r.ok ? 'OK' : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`} (${what})`];
  lines.push(...r.problems.slice(0, SHOWN_PROBLEMS).map((p) => `  problem: ${p}`));
  if (r.problems.length > SHOWN_PROBLEMS) lines.push(`  … and ${r.problems.length - SHOWN_PROBLEMS} more (--json lists all)`);
  lines.push(...r.notes.map((n) => `  note: ${n}`));
  if (!r.ok) {
    lines.push(
      r.damaged
        ? `The manifest is damaged: stop the workers, then \`fleetclip manifest rebuild --manifest ${r.manifest}\`.`
        : `Stop the workers, then \`fleetclip manifest rebuild --manifest ${r.manifest} --force\` makes the manifest agree with the receipts.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function renderRebuild(r: RebuildReport): string {
  const lines = r.rebuilt
    ? [`rebuilt ${r.manifest} from campaign.json and ${r.receipts} receipts: ${r.shards} shards, ${r.slotResults} slot results`]
    : [`${r.manifest} left as it is`];
  if (r.movedAside) lines.push(`the old file is kept at ${r.movedAside}`);
  lines.push(...r.notes.map((n) => `  note: ${n}`));
  return `${lines.join('\n')}\n`;
}

const verifyCommand = (io: Io) => ({
  command: 'verify',
  describe: 'cross-check the manifest against the receipts, campaign.json and the clips on disk (reads only)',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 manifest verify --manifest FILE [--checksums] [--json]\n\n' +
          'Exit 0 when everything agrees, 7 when something disagrees. Safe while workers run (a shard finishing meanwhile ' +
          'may show as a difference: run it again). See docs/manifest.md.',
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' })
      .option('checksums', { type: 'boolean', describe: 'also hash every ok clip and compare its sha256 (reads every byte)' })
      .option('json', { type: 'boolean', describe: 'print the report as JSON' }),
  handler: async (argv: ArgumentsCamelCase<ManifestFlags>) => {
    const report = await verifyManifest(manifestFlag(argv), { checksums: argv.checksums ?? false });
    io.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : renderVerify(report));
    if (!report.ok) io.exitCode = EXIT.manifest;
  },
});

const rebuildCommand = (io: Io) => ({
  command: 'rebuild',
  describe: 'rebuild a damaged or lost manifest from campaign.json and the receipts (stop all workers first)',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 manifest rebuild --manifest FILE [--force] [--json]\n\n' +
          'Builds a new manifest beside the old one, moves the old file to FILE.damaged-<time> (never deleted) and the ' +
          'new one into place. A manifest that verify finds healthy is left alone unless --force. See docs/manifest.md.',
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest (it may be missing)' })
      .option('force', { type: 'boolean', describe: 'rebuild even when the manifest agrees with the receipts' })
      .option('json', { type: 'boolean', describe: 'print the report as JSON' }),
  handler: async (argv: ArgumentsCamelCase<ManifestFlags>) => {
    const report = await rebuildManifest(manifestFlag(argv), { force: argv.force ?? false });
    io.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : renderRebuild(report));
  },
});

export const manifestCommand: CommandFactory = (io) => ({
  command: 'manifest <action>',
  describe: 'check a manifest against its receipts (verify) or rebuild it from them (rebuild)',
  builder: (y: Argv) => y.command(verifyCommand(io)).command(rebuildCommand(io)).demandCommand(1, 'Name an action: verify or rebuild.'),
  handler: () => undefined,
});
