import yargs, { type Argv, type CommandModule } from 'yargs';
import { EXIT, FleetclipError, UsageError, oneLine } from '../errors.js';
import type { Io } from './io.js';
import { processIo } from './io.js';

/** Each command is built for one Io, so tests can run `main()` in-process and read what it printed. */
export type CommandFactory = (io: Io) => CommandModule<any, any>;

/**
 * Commands are loaded on demand: a worker (`fleetclip work`) then carries only what it runs, not the simulator, the
 * planner's time-zone tables or the report code — about 30 MB less resident memory per array task.
 * Listed in the order `fleetclip --help` shows them: the campaign's life first, then tools.
 */
const COMMANDS: Readonly<Record<string, () => Promise<CommandFactory>>> = {
  plan: async () => (await import('./commands/plan.js')).planCommand,
  sample: async () => (await import('./commands/sample.js')).sampleCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
  work: async () => (await import('./commands/work.js')).workCommand,
  submit: async () => (await import('./commands/submit.js')).submitCommand,
  resubmit: async () => (await import('./commands/submit.js')).resubmitCommand,
  cancel: async () => (await import('./commands/submit.js')).cancelCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  archive: async () => (await import('./commands/archive.js')).archiveCommand,
  scan: async () => (await import('./commands/scan.js')).scanCommand,
  fetch: async () => (await import('./commands/fetch.js')).fetchCommand,
  token: async () => (await import('./commands/token.js')).tokenCommand,
  manifest: async () => (await import('./commands/manifest.js')).manifestCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  sim: async () => (await import('./commands/sim.js')).simCommand,
};

/** The named command alone when argv starts with one; every command otherwise (top-level help, typos). */
async function commandsFor(argv: readonly string[]): Promise<CommandFactory[]> {
  const first = argv[0];
  const names = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
  const factories: CommandFactory[] = [];
  // one after the other: jest's ESM loader fails on concurrent dynamic imports that share a dependency
  for (const name of names) factories.push(await COMMANDS[name]!());
  return factories;
}

async function buildParser(argv: readonly string[], io: Io): Promise<Argv> {
  let parser = yargs([...argv])
    .scriptName('fleetclip')
    .usage('$0 <command> [options]\n\nPull 30-second camera clips for a vehicle fleet out of the Batch API, on Slurm or locally.')
    // help paragraphs carry no line breaks of their own: yargs wraps them to the terminal (120 columns at most)
    .wrap(Math.min(120, process.stdout.columns ?? 100))
    .demandCommand(1, 'Name a command: fleetclip --help lists them.')
    .recommendCommands()
    .strict()
    .strictCommands()
    .help()
    .alias('help', 'h')
    .version()
    .epilogue('Exit codes are listed in docs/exit-codes.md. Every command takes --help.');
  for (const make of await commandsFor(argv)) parser = parser.command(make(io));
  return parser;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  try {
    let printed = '';
    await (
      await buildParser(argv, io)
    )
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
