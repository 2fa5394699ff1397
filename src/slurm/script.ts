import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { PLAIN_SHELL_WORD, shellWord } from '../shell.js';
import { checkTimeLimit, type SlurmProfile } from './profile.js';

/** Everything one sbatch script says: renderArrayScript turns it into text. */
export interface ArrayScript {
  /** with the user's overrides applied (loadProfile) */
  profile: SlurmProfile;
  jobName: string;
  /** absolute */
  manifestPath: string;
  /** absolute; logs go to `<logsDir>/%A_%a.out|err` (an array) or `<logsDir>/%j.out|err` (a plain job) */
  logsDir: string;
  /** the `--array` value, e.g. '0-31%8' (arraySpec); absent or '' for a plain job such as the healing one */
  array?: string;
  /** `--time`; default the profile's timeLimit; never beyond its maxTime */
  timeLimit?: string;
  /** `--mem`; default the profile's mem (none: the partition's per-core default) */
  mem?: string;
  /** `--account`; default the profile's; required when the profile says so */
  account?: string;
  /** the argv prefix that runs fleetclip, absolute: ['/usr/bin/node', '/abs/dist/cli.js'] */
  fleetclip: string[];
  /** after `work --manifest <path>` */
  workerArgs: string[];
  /** exported as NODE_OPTIONS (the worker's memory settings) */
  nodeOptions?: string;
  /** `--dependency`, e.g. 'afterany:12,13' (Slurm reads it as afterany:12 AND afterany:13; tested on 22.05) */
  dependency?: string;
  /** runs fleetclip with these arguments instead of `work --manifest …` (e.g. the healing `resubmit` job): no USR1 */
  command?: string[];
  /** `--chdir`: the job's working directory; absent: where sbatch was run */
  workDir?: string;
}

const TEMPLATE_FILE = fileURLToPath(new URL('../../templates/sbatch-array.sh', import.meta.url));
let template: string | undefined;

/**
 * A value on an `#SBATCH` line: sbatch reads these lines itself, not bash. It splits at blanks, joins double-quoted
 * text and takes a backslash as an escape (tested on 22.05: `"/tmp/a b/we'ird \"dir\" #1/x"` reaches the job intact).
 */
function sbatchWord(s: string): string {
  return PLAIN_SHELL_WORD.test(s) ? s : `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** In --output/--error, `%` starts a pattern (%A, %a, %j): a literal one is `%%`. */
function filenamePattern(dir: string, name: string): string {
  return `${dir.replaceAll('%', '%%')}/${name}`;
}

function oneLineText(what: string, s: string): string {
  if (/[\n\r\0]/.test(s)) throw new UsageError(`${what} must be one line: ${JSON.stringify(s)}`);
  return s;
}

function absolutePath(what: string, p: string): string {
  oneLineText(what, p);
  if (!path.isAbsolute(p)) throw new UsageError(`${what} must be an absolute path, got ${p}`);
  return p;
}

/** A bearer token must never reach a script (it would sit in slurmctld's state and in the job's files). */
const TOKEN_LIKE = [/FLEETCLIP_TOKEN/, /^--token(=|$)/, /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/, /\bBearer\s+\S/i];
function refuseTokens(what: string, s: string): void {
  if (TOKEN_LIKE.some((re) => re.test(s)))
    throw new UsageError(`${what} looks like it carries an API token; tokens stay in the token file, never in a Slurm script`);
}

/**
 * Pure: the sbatch script text, from templates/sbatch-array.sh. `#SBATCH` lines are sorted; every path is quoted (for
 * sbatch on #SBATCH lines, for bash below); no token ever; the job `exec`s fleetclip after the profile's setup lines, so
 * the worker itself is the batch step's process and gets `--signal=B:USR1@<grace>` directly (a bash trap would run
 * only after the foreground command returned: too late). One-line UsageError for a missing required account, a
 * `--time` beyond the profile's ceiling, a relative path, a multi-line value or anything token-like.
 */
export function renderArrayScript(s: ArrayScript): string {
  const p = s.profile;
  const isArray = s.array !== undefined && s.array !== '';
  const timeLimit = s.timeLimit ?? p.timeLimit;
  checkTimeLimit(p, timeLimit);
  const account = s.account ?? p.account;
  if (p.accountRequired && !account)
    throw new UsageError(`${p.name} needs an account (--account fc_…); list yours with: sacctmgr -p show associations user=$USER`);
  const mem = s.mem ?? p.mem;
  if (mem !== undefined && !/^\d+[KMGT]?$/i.test(mem)) throw new UsageError(`--mem must be a Slurm memory size such as 1G, got ${mem}`);
  if (isArray && !/^[\d,:%-]+$/.test(s.array!)) throw new UsageError(`--array must be indices such as 0-31%8, got ${s.array}`);
  if (s.dependency !== undefined && !/^[\w:,?+-]+$/.test(s.dependency))
    throw new UsageError(`--dependency such as afterany:12,13, got ${s.dependency}`);
  const manifestPath = absolutePath('the manifest path', s.manifestPath);
  const logsDir = absolutePath('the logs folder', s.logsDir).replace(/\/+$/, '') || '/';
  if (s.fleetclip.length === 0) throw new UsageError('the command that runs fleetclip is empty');
  absolutePath('the program that runs fleetclip', s.fleetclip[0]!);
  const argv = [...s.fleetclip, ...(s.command ?? ['work', '--manifest', manifestPath, ...s.workerArgs])];
  for (const a of argv) refuseTokens('an argument', oneLineText('an argument', a));
  for (const l of p.setup) refuseTokens('a setup line', oneLineText('a setup line', l));
  if (s.nodeOptions !== undefined) refuseTokens('NODE_OPTIONS', oneLineText('NODE_OPTIONS', s.nodeOptions));
  oneLineText('the job name', s.jobName);
  const logName = isArray ? '%A_%a' : '%j';

  const directives = [
    account && `--account=${sbatchWord(account)}`,
    isArray && `--array=${s.array}`,
    '--cpus-per-task=1',
    s.dependency && `--dependency=${s.dependency}`,
    s.workDir !== undefined && `--chdir=${sbatchWord(absolutePath('the working directory', s.workDir))}`,
    `--error=${sbatchWord(filenamePattern(logsDir, `${logName}.err`))}`,
    `--job-name=${sbatchWord(s.jobName)}`,
    mem && `--mem=${mem}`,
    '--nodes=1',
    '--ntasks=1',
    // a requeued task starts its script again: keep the earlier run's log
    '--open-mode=append',
    `--output=${sbatchWord(filenamePattern(logsDir, `${logName}.out`))}`,
    `--partition=${sbatchWord(p.partition)}`,
    p.qos && `--qos=${sbatchWord(p.qos)}`,
    !s.command && `--signal=B:USR1@${p.signalGraceSeconds}`,
    `--time=${timeLimit}`,
  ]
    .filter((d): d is string => typeof d === 'string' && d !== '')
    .sort()
    .map((d) => `#SBATCH ${d}`);

  const sections: Record<string, string[]> = {
    directives,
    setup: p.setup,
    environment: s.nodeOptions !== undefined ? [`export NODE_OPTIONS=${shellWord(s.nodeOptions)}`] : [],
    exec_comment: s.command
      ? ['# exec: fleetclip replaces this shell, so what Slurm sends the batch step reaches it directly.']
      : [
          `# exec: the worker replaces this shell and is the batch step's own process, so --signal=B:USR1@${p.signalGraceSeconds} reaches it`,
          '# directly: it stops claiming, releases its shard and exits (a bash trap would run only after node returned).',
        ],
  };
  const inline: Record<string, string> = {
    title: s.command
      ? `fleetclip ${oneLineText('a command', s.command[0] ?? '')}: one job${s.dependency ? ` (--dependency=${s.dependency})` : ''}`
      : "fleetclip workers: every array task runs `fleetclip work`, claiming the manifest's shards until none is left",
    profile: p.name,
    command: argv.map(shellWord).join(' '),
  };
  template ??= readFileSync(TEMPLATE_FILE, 'utf8');
  const lines: string[] = [];
  for (const line of template.split('\n')) {
    const section = /^\{\{(\w+)\}\}$/.exec(line)?.[1];
    if (section !== undefined) {
      const body = sections[section];
      if (!body) throw new Error(`templates/sbatch-array.sh: unknown section {{${section}}}`);
      lines.push(...body);
      continue;
    }
    lines.push(
      line.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
        const v = inline[name];
        if (v === undefined) throw new Error(`templates/sbatch-array.sh: unknown placeholder {{${name}}}`);
        return v;
      }),
    );
  }
  return lines.join('\n');
}
