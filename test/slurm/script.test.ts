import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { arraySpec, loadProfile, renderArrayScript, type ArrayScript } from '../../src/slurm/index.js';

/** FLEETCLIP_UPDATE_GOLDEN=1 rewrites the golden files: do it on purpose, in the commit that changes the script. */
function expectGolden(name: string, text: string): void {
  const file = new URL(`../fixtures/${name}`, import.meta.url);
  if (process.env.FLEETCLIP_UPDATE_GOLDEN === '1') writeFileSync(file, text);
  expect(existsSync(file)).toBe(true); // a missing golden file fails: run once with FLEETCLIP_UPDATE_GOLDEN=1
  expect(text).toBe(readFileSync(file, 'utf8'));
}

const RUN = '/global/scratch/users/ana/fleet run (june)';
const workers: ArrayScript = {
  profile: loadProfile('savio3_htc', { account: 'fc_fleet', mem: '1G', setup: ['module load nodejs/20', 'export PATH="$HOME/bin:$PATH"'] }),
  jobName: 'fleetclip june',
  manifestPath: `${RUN}/manifest.sqlite`,
  logsDir: `${RUN}/slurm-logs`,
  array: arraySpec({ from: 0, to: 31 }, 8),
  timeLimit: '06:00:00',
  fleetclip: ['/global/home/groups/fc_fleet/node-v20/bin/node', '/global/home/groups/fc_fleet/fleetclip/dist/cli.js'],
  workerArgs: ['--log-level', 'debug', '--on-miss', 'skip:60'],
  nodeOptions: '--max-semi-space-size=2',
  workDir: RUN,
};

describe('renderArrayScript', () => {
  test('the workers array (golden file: every directive, quoted paths with spaces, exec of the worker)', () => {
    expectGolden('sbatch-array.golden.sh', renderArrayScript(workers));
  });

  test('the healing job: no array, no USR1, after the arrays end (golden file)', () => {
    const healing: ArrayScript = {
      ...workers,
      jobName: 'fleetclip june resubmit',
      array: '',
      timeLimit: '00:30:00',
      dependency: 'afterany:1234,1235',
      command: ['resubmit', '--manifest', workers.manifestPath, '--auto-resubmit', '2'],
    };
    expectGolden('sbatch-resubmit.golden.sh', renderArrayScript(healing));
  });

  test('defaults: time, memory and account from the profile; no QoS, no memory on the local cluster', () => {
    const text = renderArrayScript({
      profile: loadProfile('local'),
      jobName: 'fc',
      manifestPath: '/tmp/run/manifest.sqlite',
      logsDir: '/tmp/run/logs/',
      array: '0-3',
      fleetclip: ['/usr/bin/node', '/opt/fleetclip/dist/cli.js'],
      workerArgs: [],
    });
    const directives = text.split('\n').filter((l) => l.startsWith('#SBATCH'));
    expect(directives).toEqual([
      '#SBATCH --array=0-3',
      '#SBATCH --cpus-per-task=1',
      '#SBATCH --error=/tmp/run/logs/%A_%a.err',
      '#SBATCH --job-name=fc',
      '#SBATCH --nodes=1',
      '#SBATCH --ntasks=1',
      '#SBATCH --open-mode=append',
      '#SBATCH --output=/tmp/run/logs/%A_%a.out',
      '#SBATCH --partition=savio3_htc',
      '#SBATCH --signal=B:USR1@60',
      '#SBATCH --time=01:00:00',
    ]);
    expect(text).toContain('\nexec /usr/bin/node /opt/fleetclip/dist/cli.js work --manifest /tmp/run/manifest.sqlite\n');
  });

  test('quoting: a single quote for bash, a double quote for sbatch, a literal % in the logs folder', () => {
    const text = renderArrayScript({
      ...workers,
      manifestPath: `/tmp/it's "odd"/m.sqlite`,
      logsDir: `/tmp/it's "odd" 100%/logs`,
      workDir: undefined,
    });
    expect(text).toContain(`#SBATCH --output="/tmp/it's \\"odd\\" 100%%/logs/%A_%a.out"`);
    expect(text).toContain(`work --manifest '/tmp/it'\\''s "odd"/m.sqlite'`);
  });

  test('never a token: the rendered script names no token variable and holds nothing token-like', () => {
    const text = renderArrayScript(workers);
    expect(text).not.toMatch(/TOKEN|Bearer|eyJ/i);
  });

  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmbGVldCJ9.c2lnbmF0dXJlc2lnbmF0dXJl';
  test.each([
    {
      what: 'no account on Savio',
      change: { account: undefined, profile: loadProfile('savio3_htc') },
      message: 'savio3_htc needs an account (--account fc_…)',
    },
    {
      what: '--time beyond 72 h',
      change: { timeLimit: '80:00:00' },
      message: '--time 80:00:00 is longer than savio3_htc with QoS savio_normal allows (72:00:00)',
    },
    {
      what: 'a relative manifest path',
      change: { manifestPath: 'run/manifest.sqlite' },
      message: 'the manifest path must be an absolute path',
    },
    {
      what: 'a relative program',
      change: { fleetclip: ['node', 'dist/cli.js'] },
      message: 'the program that runs fleetclip must be an absolute path',
    },
    { what: 'a newline in a path', change: { logsDir: '/tmp/a\nb' }, message: 'the logs folder must be one line' },
    { what: 'a token in the arguments', change: { workerArgs: ['--note', jwt] }, message: 'looks like it carries an API token' },
    {
      what: 'a token variable in a setup line',
      change: { profile: { ...workers.profile, setup: ['export FLEETCLIP_TOKEN=x'] } },
      message: 'a setup line looks like it carries an API token',
    },
    { what: 'a bad --array', change: { array: '0-9; rm -rf /' }, message: '--array must be indices' },
  ])('$what: one UsageError line', ({ change, message }) => {
    let error: unknown;
    try {
      renderArrayScript({ ...workers, ...change } as ArrayScript);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
