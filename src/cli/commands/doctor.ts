import type { ArgumentsCamelCase, Argv } from 'yargs';
import { EXIT } from '../../errors.js';
import { inspectFilesystem, type FilesystemReport } from '../../manifest/index.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag } from '../flags.js';

interface DoctorFlags {
  manifest?: string | string[];
  json?: boolean;
}

function render(r: FilesystemReport): string {
  const fs = `${r.fsType}${r.mountPoint ? ` mounted at ${r.mountPoint}` : ''}${r.lustreLocking ? `, Lustre locking: ${r.lustreLocking}` : ''}`;
  const verdict = r.safeForManyNodes
    ? 'SAFE for workers on many nodes'
    : r.safeForOneNode
      ? 'NOT safe for workers on many nodes; workers on this machine only (--executor local)'
      : 'NOT safe: SQLite locking does not work here; put the manifest elsewhere';
  return [
    `manifest    ${r.manifest}`,
    `filesystem  ${fs}`,
    `lock test   ${r.lockTest.ok ? 'passed' : 'FAILED'}`,
    ...(r.journalMode ? [`journal     ${r.journalMode}`] : []),
    `verdict     ${verdict}`,
    ...r.reasons.map((reason) => `  - ${reason}`),
    '',
  ].join('\n');
}

export const doctorCommand: CommandFactory = (io) => ({
  command: 'doctor',
  describe: 'say whether the filesystem holding a manifest is safe for workers on many nodes',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 doctor --manifest FILE [--json]\n\n' +
          "Finds the filesystem of FILE's folder (statfs, /proc/mounts: local, NFS, Lustre flock/localflock/noflock, GPFS), " +
          'runs a two-process SQLite lock test there and gives a verdict. FILE need not exist yet. ' +
          'Exit 0 when safe for workers on many nodes, 1 when not. See docs/manifest.md.',
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the manifest file (or where it will be)' })
      .option('json', { type: 'boolean', describe: 'print the report as JSON' }),
  handler: async (argv: ArgumentsCamelCase<DoctorFlags>) => {
    const report = await inspectFilesystem(manifestFlag(argv));
    io.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
    if (!report.safeForManyNodes) io.exitCode = EXIT.someFailed;
  },
});
