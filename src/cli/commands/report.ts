import type { ArgumentsCamelCase, Argv } from 'yargs';
import { MAX_TIMELINE_COLUMNS } from '../../report/index.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag, single } from '../flags.js';
import { REPORT_FILE_NAME, reportPathFor, writeReportFile } from '../report-file.js';

interface ReportFlags {
  manifest?: string | string[];
  out?: string | string[];
  json?: boolean;
}

export const reportCommand: CommandFactory = (io) => ({
  command: 'report',
  describe: 'write the campaign as one self-contained HTML page: coverage timeline, throughput, storage, failed shards',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 report --manifest FILE [--out FILE] [--json]\n\n' +
          `Reads the manifest (read-only, never blocking workers) and writes one HTML file with inline CSS and SVG and no script: a coverage timeline per vehicle and camera (ok, no data, invalid, failed, pending; at most ${MAX_TIMELINE_COLUMNS} columns, each covering as many 30 s slots as the window needs), clips per minute over time, bytes per bucket against the bucket and workspace caps, and the failed shards with their last error and the command that queues them again. Prints the file's path. See docs/report.md.`,
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' })
      .option('out', {
        type: 'string',
        requiresArg: true,
        describe: `the HTML file to write, replaced whole (a folder: ${REPORT_FILE_NAME} in it; default ${REPORT_FILE_NAME} beside the manifest)`,
      })
      .option('json', { type: 'boolean', describe: 'print {path, bytes, ms} as JSON instead of the path' }),
  handler: async (argv: ArgumentsCamelCase<ReportFlags>) => {
    const manifestPath = manifestFlag(argv);
    const outPath = await reportPathFor(manifestPath, single('out', argv.out));
    const written = await writeReportFile(io, manifestPath, outPath, 'fleetclip report');
    io.stdout.write(argv.json ? `${JSON.stringify(written)}\n` : `${written.path}\n`);
  },
});
