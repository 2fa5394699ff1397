import { describe, expect, test } from '@jest/globals';
import { runCli, runMain } from '../helpers/cli.js';

describe('fleetclip main()', () => {
  test('an unknown flag is a one-line usage error, exit 2', async () => {
    const r = await runMain(['status', '--manifest', 'x.sqlite', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('fleetclip: Unknown argument: nope\n');
  });

  test('an unknown command is a usage error, exit 2', async () => {
    const r = await runMain(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^fleetclip: Unknown (argument|command): frobnicate\n$/);
  });

  test('a flag given without its value is a usage error, not an internal one', async () => {
    const r = await runMain(['plan', '--day']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('fleetclip: Not enough arguments following: day\n');
  });

  test('no command asks for one', async () => {
    const r = await runMain([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Name a command');
  });

  test('--help lists the usage and exits 0', async () => {
    const r = await runMain(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fleetclip <command> [options]');
    expect(r.stdout).toContain('docs/exit-codes.md');
  });
});

describe('the built binary', () => {
  test('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('a bad flag exits 2 with one line on stderr and no stack', async () => {
    const r = await runCli(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
