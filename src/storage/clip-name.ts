import { UsageError } from '../errors.js';
import { parseName } from '../plan/grammar.js';
import { SLOT_SECONDS } from '../plan/types.js';

/** `20251117T083000Z`: the compact UTC stamp used in clip file names. */
function compactUtcStamp(epochSec: number): string {
  return new Date(epochSec * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Our name for a clip, `<vehicle>_<camera>_<YYYYMMDDTHHMMSSZ>_30s.bag`; never the server's. One (vehicle, camera, slot)
 * has one name and one name one slot: the name grammar keeps `_` out of vehicle names, and names that could leave
 * the folder never get this far.
 */
export function clipFileName(vehicle: string, camera: string, slotStartSec: number): string {
  parseName('vehicle', vehicle);
  parseName('camera', camera);
  assertOnSlotGrid(slotStartSec);
  return `${vehicle}_${camera}_${compactUtcStamp(slotStartSec)}_${SLOT_SECONDS}s.bag`;
}

export function assertOnSlotGrid(slotStartSec: number): void {
  if (!Number.isSafeInteger(slotStartSec) || slotStartSec < 0 || slotStartSec % SLOT_SECONDS !== 0)
    throw new UsageError(`slot start ${slotStartSec} is not on the ${SLOT_SECONDS} s grid (epoch seconds)`);
}

function slotStartOf(epochSec: number): number {
  return Math.floor(epochSec / SLOT_SECONDS) * SLOT_SECONDS;
}

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `--at`: an ISO instant with an explicit zone (`2025-11-17T08:30:00Z`) or epoch seconds,
 * floored to the 30 s grid. A zone-less ISO time is refused rather than read in the machine's zone.
 */
export function parseSlotInstant(text: string): number {
  const t = text.trim();
  let sec: number;
  if (/^\d+(\.\d+)?$/.test(t)) sec = Number(t);
  else if (ISO_WITH_ZONE.test(t)) sec = Date.parse(t) / 1000;
  else sec = Number.NaN;
  if (!Number.isFinite(sec) || sec < 0)
    throw new UsageError(`--at "${text}" is neither an ISO instant with a zone (2025-11-17T08:30:00Z) nor epoch seconds`);
  return slotStartOf(sec);
}

export function slotIso(slotStartSec: number): string {
  return new Date(slotStartSec * 1000).toISOString().replace('.000Z', 'Z');
}
