import { readdirSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { PROFILE_NAMES, loadProfile, parseTimeLimit, type SlurmProfile } from '../../src/slurm/index.js';

describe('Slurm profiles', () => {
  test('PROFILE_NAMES are exactly the files in slurm/profiles/', () => {
    const files = readdirSync(new URL('../../slurm/profiles/', import.meta.url)).filter((f) => f.endsWith('.json'));
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...PROFILE_NAMES].sort());
  });

  test.each(PROFILE_NAMES.map((name) => ({ name })))('$name loads and is valid', ({ name }) => {
    const p = loadProfile(name);
    expect(p.name).toBe(name);
    expect(p.setup).toEqual(expect.any(Array));
  });

  test.each([
    { name: 'savio2_htc', partition: 'savio2_htc', su: 1.2 },
    { name: 'savio3_htc', partition: 'savio3_htc', su: 2.67 },
    { name: 'savio4_htc', partition: 'savio4_htc', su: 3.67 },
  ])('$name: QoS savio_normal, 72 h, account required, $su SU per core-hour', ({ name, partition, su }) => {
    expect(loadProfile(name)).toMatchObject({
      partition,
      qos: 'savio_normal',
      accountRequired: true,
      maxTime: '72:00:00',
      serviceUnitsPerCoreHour: su,
    } satisfies Partial<SlurmProfile>);
  });

  test('the local cluster needs no account and has no ceiling', () => {
    const p = loadProfile('local');
    expect(p).toMatchObject({ partition: 'savio3_htc', accountRequired: false });
    expect(p.maxTime).toBeUndefined();
  });

  test('overrides apply; undefined ones (unset flags) are ignored', () => {
    const p = loadProfile('savio3_htc', { account: 'fc_fleet', timeLimit: '24:00:00', mem: '1G', qos: undefined });
    expect(p).toMatchObject({ account: 'fc_fleet', timeLimit: '24:00:00', mem: '1G', qos: 'savio_normal' });
  });

  test('savio_long on savio2_htc allows 10 days', () => {
    expect(loadProfile('savio2_htc', { qos: 'savio_long', timeLimit: '5-00:00:00' })).toMatchObject({ maxTime: '10-00:00:00' });
  });

  test.each([
    {
      what: 'an unknown profile',
      name: 'savio3',
      overrides: {},
      message: 'unknown Slurm profile "savio3" (known: savio2_htc, savio3_htc, savio4_htc, local)',
    },
    {
      what: 'an unknown key',
      name: 'savio3_htc',
      overrides: { partitoin: 'x' },
      message: 'Slurm profile savio3_htc: unknown key "partitoin"',
    },
    {
      what: 'a bad value',
      name: 'savio3_htc',
      overrides: { mem: 'lots' },
      message: `"mem" must be a Slurm memory size such as '1G' or '512M', got "lots"`,
    },
    { what: 'a bad time', name: 'savio3_htc', overrides: { timeLimit: '12h' }, message: '"timeLimit" must be a Slurm time' },
    {
      what: 'a time beyond the QoS',
      name: 'savio3_htc',
      overrides: { timeLimit: '3-00:00:01' },
      message: '--time 3-00:00:01 is longer than savio3_htc with QoS savio_normal allows (72:00:00)',
    },
    {
      what: 'savio_debug is 3 h',
      name: 'savio4_htc',
      overrides: { qos: 'savio_debug', timeLimit: '04:00:00' },
      message: '--time 04:00:00 is longer than savio4_htc with QoS savio_debug allows (03:00:00)',
    },
  ])('$what: one UsageError line', ({ name, overrides, message }) => {
    let error: unknown;
    try {
      loadProfile(name, overrides as Partial<SlurmProfile>);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('Slurm times', () => {
  test.each([
    { text: '30', seconds: 1800 },
    { text: '30:15', seconds: 1815 },
    { text: '12:00:00', seconds: 43200 },
    { text: '3-00:00:00', seconds: 259200 },
    { text: '1-2', seconds: 93600 },
    { text: '1-2:30', seconds: 95400 },
    { text: 'INFINITE', seconds: Infinity },
    { text: '12h', seconds: undefined },
    { text: '', seconds: undefined },
  ])('$text', ({ text, seconds }) => {
    expect(parseTimeLimit(text)).toBe(seconds);
  });
});
