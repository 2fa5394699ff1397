import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { parseNameList } from '../../src/plan/index.js';

describe('parseNameList', () => {
  test('splits, trims, sorts and drops duplicates', () => {
    expect(parseNameList('vehicles', 'mav, mallory,mav')).toEqual(['mallory', 'mav']);
    expect(parseNameList('cameras', ['front-center', 'left_center,Front2'])).toEqual(['Front2', 'front-center', 'left_center']);
  });

  test.each(['x;rm -rf ~', '../a', 'a/b', '-a', '_a', 'a b', 'ä', '$(id)', 'a.b', 'x'.repeat(65)])('refuses %p', (name) => {
    expect(() => parseNameList('vehicles', `mav,${name}`)).toThrow(UsageError);
    expect(() => parseNameList('vehicles', `mav,${name}`)).toThrow(`--vehicles: '${name}' is not a valid name`);
  });

  test.each([undefined, '', ' , ', []])('an empty list %p is refused', (raw) => {
    expect(() => parseNameList('cameras', raw)).toThrow(new UsageError('--cameras needs at least one name'));
  });
});
