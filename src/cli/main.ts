import yargs, { type Argv, type CommandModule } from 'yargs';
import { EXIT, FleetclipError, UsageError, oneLine } from '../errors.js';
import type { Io } from './io.js';
import { processIo } from './io.js';
import { doctorCommand } from './commands/doctor.js';
import { fetchCommand } from './commands/fetch.js';
import { manifestCommand } from './commands/manifest.js';
import { planCommand } from './commands/plan.js';
import { simCommand } from './commands/sim.js';
import { statusCommand } from './commands/status.js';
import { tokenCommand } from './commands/token.js';
import { runCommand } from './commands/run.js';
import { workCommand } from './commands/work.js';

/** Each command is built for one Io, so tests can run `main()` in-process and read what it printed. */
export type CommandFactory = (io: Io) => CommandModule<any, any>;

// in the order `fleetclip --help` lists them: the campaign's life first, then tools
const COMMANDS: readonly CommandFactory[] = [
  planCommand,
  workCommand,
  runCommand,
  statusCommand,
  fetchCommand,
  tokenCommand,
  manifestCommand,
  doctorCommand,
  simCommand,
];

export function buildParser(argv: readonly string[], io: Io): Argv {
  let parser = yargs([...argv])
    .scriptName('fleetclip')
    .usage('$0 <command> [options]\n\nPull 30-second camera clips for a vehicle fleet out of the Batch API, on Slurm or locally.')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .demandCommand(1, 'Name a command: fleetclip --help lists them.')
    .recommendCommands()
    .strict()
    .strictCommands()
    .help()
    .alias('help', 'h')
    .version()
    .epilogue('Exit codes are listed in docs/exit-codes.md. Every command takes --help.');
  for (const make of COMMANDS) parser = parser.command(make(io));
  return parser;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  try {
    let printed = '';
    await buildParser(argv, io)
      .exitProcess(false)
      // throwing here stops yargs before any handler runs; its own validation errors (YError) are usage errors
      .fail((msg, err) => {
        if (err && err.name !== 'YError') throw err;
        throw new UsageError(msg || err?.message || 'invalid command line');
      })
      .parseAsync([...argv], {}, (_err, _args, output) => {
        printed = output;
      });
    if (printed) io.stdout.write(printed.endsWith('\n') ? printed : `${printed}\n`);
    return io.exitCode;
  } catch (err) {
    if (err instanceof FleetclipError) {
      io.stderr.write(`fleetclip: ${oneLine(err)}\n`);
      return err.exitCode;
    }
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr.write(`fleetclip: internal error, please report it:\n${stack}\n`);
    return EXIT.internal;
  }
}
