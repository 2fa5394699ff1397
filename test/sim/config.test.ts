import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { SIM_DEFAULTS, normalizeSimConfig, type SimConfigInput } from '../../src/sim/index.js';

describe('normalizeSimConfig', () => {
  test('no input gives the defaults: the default fleet, ~2 MB clips, realistic delays, no faults', () => {
    const c = normalizeSimConfig();
    expect(c).toEqual(SIM_DEFAULTS);
    expect(c.vehicles).toEqual(['mallory', 'mav', 'megalodon', 'metatron', 'morizo']);
    expect(c.cameras).toEqual(['front-center', 'left-center', 'right-center']);
    expect(c.processingDelayMs.max).toBeGreaterThan(0);
    expect(Object.entries(c.faults).filter(([k, v]) => k.endsWith('ate') && v !== 0)).toEqual([]);
  });

  test('undefined fields keep their defaults; faults merge one by one', () => {
    const c = normalizeSimConfig({ port: undefined, faults: { rate5xx: 0.5, slowMs: undefined } });
    expect(c.port).toBe(0);
    expect(c.faults).toEqual({ ...SIM_DEFAULTS.faults, rate5xx: 0.5 });
  });

  test.each([
    { input: { port: -1 }, message: 'port must be an integer 0..65535, got -1' },
    { input: { port: 1.5 }, message: 'port must be an integer 0..65535, got 1.5' },
    { input: { timeScale: 0 }, message: 'timeScale must be a number > 0, got 0' },
    { input: { faults: { dropRate: 1.5 } }, message: 'faults.dropRate must be a number 0..1, got 1.5' },
    { input: { faults: { tinyRate: -0.1 } }, message: 'faults.tinyRate must be a number 0..1, got -0.1' },
    { input: { vehicles: [] }, message: 'vehicles must name at least one' },
    { input: { vehicles: ['a b'] }, message: 'vehicles: "a b" is not a name (letters, digits, . _ -)' },
    { input: { cameras: ['x', 'x'] }, message: 'cameras lists a name twice' },
    { input: { clipBytes: 1000 }, message: 'clipBytes must be an integer 65536..268435456, got 1000' },
    { input: { processingDelayMs: { min: 5, max: 1 } }, message: 'processingDelayMs: max 1 is below min 5' },
    { input: { processingDelayMs: { min: -1, max: 1 } }, message: 'processingDelayMs.min must be a number >= 0, got -1' },
    { input: { faults: { longJobRate: 1.5 } }, message: 'faults.longJobRate must be a number 0..1, got 1.5' },
    { input: { faults: { longJobMs: { min: 9, max: 1 } } }, message: 'faults.longJobMs: max 1 is below min 9' },
    { input: { faults: { longJobMs: { min: 0, max: Infinity } } }, message: 'faults.longJobMs.max must be a number >= 0, got Infinity' },
    { input: { faults: { neverReadyRate: -0.5 } }, message: 'faults.neverReadyRate must be a number 0..1, got -0.5' },
    { input: { faults: { neverReadyStatus: 502 } }, message: 'faults.neverReadyStatus must be one of 404, 500, 503, got 502' },
    { input: { videoShapes: ['xml'] }, message: 'videoShapes: unknown shape "xml" (known: json-object, json-string, text)' },
    {
      input: { downloadShapes: [] },
      message: 'downloadShapes must name at least one of redirect-302, redirect-307, octet-url, text-url, json-url, bytes',
    },
  ] as { input: SimConfigInput; message: string }[])('$message', ({ input, message }) => {
    expect(() => normalizeSimConfig(input)).toThrow(new UsageError(message));
  });

  test("long and never-ready jobs are off by default; the long range is the vendor's 150-225 s", () => {
    const { faults } = normalizeSimConfig();
    expect(faults).toMatchObject({ longJobRate: 0, longJobMs: { min: 150_000, max: 225_000 }, neverReadyRate: 0, neverReadyStatus: 500 });
  });

  test('the config keeps its own copy of a range', () => {
    const longJobMs = { min: 1, max: 2 };
    const c = normalizeSimConfig({ faults: { longJobMs } });
    longJobMs.max = 1000;
    expect(c.faults.longJobMs).toEqual({ min: 1, max: 2 });
  });

  test("the namer names options the caller's way (the CLI uses flags)", () => {
    expect(() => normalizeSimConfig({ timeScale: -1 }, (k) => `--${k}`)).toThrow('--timeScale must be a number > 0, got -1');
  });
});
