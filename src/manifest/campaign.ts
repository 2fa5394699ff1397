import path from 'node:path';
import { ManifestError, UsageError } from '../errors.js';
import type { CampaignSettings, ShardSpec, SlotSelection } from '../plan/types.js';
import { writeCampaignFile } from './campaign-file.js';
import type { Dictionary } from './dictionary.js';
import type { Store } from './store.js';
import type { PlannedShard, PlanOutcome } from './types.js';

/** The canonical text of settings, for "is this the same plan" (key order does not matter). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** `outDir` as stored may be relative to the run folder (the manifest's), so a moved run folder keeps its clips. */
export function resolveOutDir(runDir: string, settings: Pick<CampaignSettings, 'outDir'>): string {
  return path.resolve(runDir, settings.outDir);
}

/** `shard.slots`: a sample shard's selection as JSON, NULL for a shard of every slot. */
export function slotsColumn(shard: Pick<ShardSpec, 'slots'>): string | null {
  return shard.slots ? JSON.stringify(shard.slots) : null;
}

/** `shard.slots` read back: `{ slots }` for a sample shard, nothing for a shard of every slot. */
export function selectionOf(column: string | null): { slots?: SlotSelection } {
  return column === null ? {} : { slots: JSON.parse(column) as SlotSelection };
}

/** The campaign row (settings), the planned shards and the cameras they name. */
export class CampaignTable {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly cameras: Dictionary,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      settings: p(`SELECT settings FROM campaign WHERE id = 1`).pluck(),
      save: p(`INSERT INTO campaign (id, settings, created_ms, updated_ms) VALUES (1, @settings, @now, @now)
               ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_ms = excluded.updated_ms`),
      insertShard: p(`INSERT OR IGNORE INTO shard (vehicle, hour_start, cameras, slots) VALUES (@vehicle, @hourStart, @cameras, @slots)`),
      shardKeys: p(`SELECT vehicle || ' ' || hour_start || ' ' || coalesce(slots, '') FROM shard`).pluck(),
      planned: p(`SELECT id, vehicle, hour_start AS hourStart, cameras, slots FROM shard ORDER BY id`),
    };
  }

  settings(): CampaignSettings {
    const text = this.store.read(() => this.sql.settings.get()) as string | undefined;
    if (text === undefined)
      throw new ManifestError(`${this.store.path} holds no campaign yet; run \`fleetclip plan\``, { path: this.store.path });
    return JSON.parse(text) as CampaignSettings;
  }

  outDir(): string {
    return resolveOutDir(this.store.runDir, this.settings());
  }

  plannedShards(): PlannedShard[] {
    const rows = this.store.read(() => this.sql.planned.all()) as (Omit<PlannedShard, 'cameras' | 'slots'> & {
      cameras: string;
      slots: string | null;
    })[];
    return rows.map(({ slots, ...r }) => ({ ...r, cameras: JSON.parse(r.cameras) as string[], ...selectionOf(slots) }));
  }

  plan(settings: CampaignSettings, shards: readonly ShardSpec[], opts: { extend?: boolean } = {}): PlanOutcome {
    const now = Date.now();
    const outcome = this.store.write(undefined, () => {
      const stored = this.sql.settings.get() as string | undefined;
      if (stored !== undefined && !opts.extend) {
        const keys = new Set(this.sql.shardKeys.all() as string[]);
        const same =
          canonical(JSON.parse(stored)) === canonical(settings) &&
          keys.size === shards.length &&
          shards.every((s) => keys.has(`${s.vehicle} ${s.hourStart} ${slotsColumn(s) ?? ''}`));
        if (!same) {
          // a sample (drawn from the days before today) is drawn once: another draw is another campaign
          const advice =
            settings.sample || (JSON.parse(stored) as CampaignSettings).sample
              ? 'a sample campaign cannot be changed or extended: give another --manifest'
              : 'pass --extend to add days or vehicles to it';
          throw new UsageError(`${this.store.path} already holds a different campaign; ${advice}`, { path: this.store.path });
        }
        return { created: false, shardsAdded: 0, shardsTotal: keys.size };
      }
      this.saveSettings(settings, now);
      this.registerCameras(settings, shards);
      let added = 0;
      for (const s of shards)
        added += this.sql.insertShard.run({
          vehicle: s.vehicle,
          hourStart: s.hourStart,
          cameras: JSON.stringify(s.cameras),
          slots: slotsColumn(s),
        }).changes;
      return { created: stored === undefined, shardsAdded: added, shardsTotal: this.sql.shardKeys.all().length };
    });
    try {
      writeCampaignFile(this.store.runDir, { settings, shards: this.plannedShards() });
    } catch (err) {
      // the plan is committed; campaign.json (what `manifest rebuild` starts from) is not: planning again rewrites it
      throw new ManifestError(
        `planned in ${this.store.path}, but ${path.join(this.store.runDir, 'campaign.json')} could not be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix that, then run the same plan again`,
        { path: this.store.path },
        { cause: err },
      );
    }
    return outcome;
  }

  /** Inside a write (plan, restore). */
  saveSettings(settings: CampaignSettings, nowMs: number): void {
    this.sql.save.run({ settings: JSON.stringify(settings), now: nowMs });
  }

  /** Inside a write: numbers the campaign's cameras in the order they were planned, so slot rows can name them. */
  registerCameras(settings: CampaignSettings, shards: readonly Pick<ShardSpec, 'cameras'>[]): void {
    for (const camera of settings.cameras) this.cameras.idOf(camera);
    for (const s of shards) for (const camera of s.cameras) this.cameras.idOf(camera);
  }
}
