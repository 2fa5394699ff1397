import type { CampaignSettings, SlotSelection } from '../plan/types.js';
import type { CampaignRecord } from './campaign-file.js';
import type { ArchiveEvent, IndexedEvent, Receipt, ReceiptIndex } from './receipts.js';
import type { ArchiveLocation, ShardState, SlotResult, SlurmSubmission, WorkerIdentity } from './types.js';

/** A shard as the manifest holds it, minus heartbeat times. */
export interface ShardRecord {
  id: number;
  vehicle: string;
  hourStart: number;
  cameras: string[];
  /** a sample shard's selection */
  slots?: SlotSelection;
  state: ShardState;
  fence: number;
  attempts: number;
  owner?: WorkerIdentity;
  leaseUntilMs?: number;
  lastError?: string;
  releaseReason?: string;
}

/** A slot result with the lease it was written under (the receipts say which worker wrote it), and where it was archived. */
export interface SlotRecord {
  shardId: number;
  fence: number;
  result: SlotResult;
  archived?: ArchiveLocation;
}

/** Everything `manifest rebuild` restores, and what `manifest verify` compares. */
export interface ManifestContent {
  settings: CampaignSettings;
  shards: ShardRecord[];
  submissions: SlurmSubmission[];
  /** one shard's slot results, by camera then slot: read a shard at a time, as a month of them does not fit in memory */
  slotsOf(shardId: number): SlotRecord[];
}

const slotKey = (r: Pick<SlotResult, 'vehicle' | 'camera' | 'start'>): string => `${r.vehicle} ${r.camera} ${r.start}`;

export function bySlot(a: SlotRecord, b: SlotRecord): number {
  return a.result.camera.localeCompare(b.result.camera) || a.result.start - b.result.start;
}

const RANK = { claim: 0, slots: 1, end: 2, reset: 3 } as const;

/**
 * Replays receipts over the planned campaign. The events of one shard are ordered by fence (one lease
 * each), then claim → slots → end → reset within a fence, then journal order; that is the order the
 * manifest committed them in, because every write was fenced. Slot results are read back from the
 * journals (`resultsOf`) only when `slotsOf` asks for their shard, and so are archived clips (`archivedOf`), which
 * land on ok results (final: never written again) in the order they were archived.
 */
export function replayReceipts(
  campaign: CampaignRecord,
  { receipts, resultsOf, archivedOf }: Pick<ReceiptIndex, 'receipts' | 'resultsOf' | 'archivedOf'>,
): { content: ManifestContent; problems: string[] } {
  const problems: string[] = [];
  const shards = new Map<number, ShardRecord>(
    campaign.shards.map((s) => [s.id, { ...s, cameras: [...s.cameras], state: 'pending', fence: 0, attempts: 0 }]),
  );
  const submissions: SlurmSubmission[] = [];
  type Step = { shardId: number; fence: number; rank: number; index: number; apply: (shard: ShardRecord) => void };
  const steps: Step[] = [];
  const slotReceipts = new Map<number, { fence: number; index: number; receipt: Receipt<IndexedEvent> }[]>();
  const archiveReceipts = new Map<number, { atMs: number; index: number; receipt: Receipt<IndexedEvent> }[]>();

  receipts.forEach((receipt, index) => {
    const e = receipt.event;
    switch (e.t) {
      case 'claim':
        steps.push({
          shardId: e.shardId,
          fence: e.fence,
          rank: RANK.claim,
          index,
          apply: (s) => {
            Object.assign(s, { state: 'running', fence: e.fence, attempts: e.attempt, owner: e.owner, leaseUntilMs: e.leaseUntilMs });
            delete s.releaseReason;
          },
        });
        break;
      case 'slots':
        if (!shards.has(e.shardId)) {
          problems.push(`receipts mention shard ${e.shardId}, which is not in the campaign record`);
          break;
        }
        if (!slotReceipts.has(e.shardId)) slotReceipts.set(e.shardId, []);
        slotReceipts.get(e.shardId)!.push({ fence: e.fence, index, receipt });
        break;
      case 'end':
        steps.push({
          shardId: e.shardId,
          fence: e.fence,
          rank: RANK.end,
          index,
          apply: (s) => {
            s.state = e.state;
            delete s.leaseUntilMs;
            if (e.state === 'failed') s.lastError = e.note ?? '';
            if (e.state === 'done') delete s.lastError;
            if (e.state === 'released') s.releaseReason = e.note ?? '';
            else delete s.releaseReason;
          },
        });
        break;
      case 'reset':
        for (const { id, fence } of e.shards) {
          steps.push({
            shardId: id,
            fence,
            rank: RANK.reset,
            index,
            apply: (s) => {
              Object.assign(s, { state: 'pending', attempts: e.keepAttempts ? s.attempts : 0 });
              delete s.owner;
              delete s.leaseUntilMs;
            },
          });
        }
        break;
      case 'submission':
        submissions.push(e.submission);
        break;
      case 'archive':
        if (!archiveReceipts.has(e.shardId)) archiveReceipts.set(e.shardId, []);
        archiveReceipts.get(e.shardId)!.push({ atMs: e.atMs, index, receipt });
        break;
      case 'void':
        break;
    }
  });

  steps.sort((a, b) => a.fence - b.fence || a.rank - b.rank || a.index - b.index);
  for (const step of steps) {
    const shard = shards.get(step.shardId);
    if (shard) step.apply(shard);
    else problems.push(`receipts mention shard ${step.shardId}, which is not in the campaign record`);
  }
  submissions.sort((a, b) => a.atMs - b.atMs);

  const slotsOf = (shardId: number): SlotRecord[] => {
    const slots = new Map<string, SlotRecord>();
    const ordered = [...(slotReceipts.get(shardId) ?? [])].sort((a, b) => a.fence - b.fence || a.index - b.index);
    for (const { fence, receipt } of ordered)
      for (const result of resultsOf(receipt)) slots.set(slotKey(result), { shardId, fence, result });
    const vehicle = shards.get(shardId)?.vehicle ?? '';
    const archives = [...(archiveReceipts.get(shardId) ?? [])].sort((a, b) => a.atMs - b.atMs || a.index - b.index);
    for (const { receipt } of archives) {
      const { destination } = receipt.event as Omit<ArchiveEvent, 'clips'>;
      for (const { camera, start, day, moved } of archivedOf(receipt)) {
        const slot = slots.get(slotKey({ vehicle, camera, start }));
        if (slot) slot.archived = { destination, day, moved: moved || slot.archived?.moved === true };
      }
    }
    return [...slots.values()].sort(bySlot);
  };
  return { content: { settings: campaign.settings, shards: [...shards.values()], submissions, slotsOf }, problems };
}

/** What differs between the shards and submissions the receipts imply and what the manifest holds (heartbeat times aside). */
export function diffShards(expected: ManifestContent, actual: ManifestContent): string[] {
  const problems: string[] = [];
  const actualShards = new Map(actual.shards.map((s) => [s.id, s]));
  for (const want of expected.shards) {
    const got = actualShards.get(want.id);
    actualShards.delete(want.id);
    if (!got) {
      problems.push(`shard ${want.id} (${want.vehicle} ${want.hourStart}) is planned but missing from the manifest`);
      continue;
    }
    if (JSON.stringify(got.slots ?? null) !== JSON.stringify(want.slots ?? null)) {
      problems.push(`shard ${want.id} holds other slots in the manifest than in the campaign record`);
    }
    if (got.vehicle !== want.vehicle || got.hourStart !== want.hourStart) {
      problems.push(
        `shard ${want.id} is ${got.vehicle} ${got.hourStart} in the manifest, ${want.vehicle} ${want.hourStart} in the campaign record`,
      );
    }
    if (got.state !== want.state || got.fence !== want.fence || got.attempts !== want.attempts) {
      problems.push(
        `shard ${want.id}: manifest says ${got.state} (lease ${got.fence}, attempt ${got.attempts}), receipts say ${want.state} (lease ${want.fence}, attempt ${want.attempts})`,
      );
    }
  }
  for (const extra of actualShards.values()) problems.push(`shard ${extra.id} is in the manifest but not in the campaign record`);
  if (expected.submissions.length !== actual.submissions.length) {
    problems.push(`${actual.submissions.length} Slurm submissions in the manifest, ${expected.submissions.length} in the receipts`);
  }
  return problems;
}

/** What differs between one shard's slot results as the receipts imply them and as the manifest holds them. */
export function diffSlots(expected: readonly SlotRecord[], actual: readonly SlotRecord[]): string[] {
  const problems: string[] = [];
  const actualSlots = new Map(actual.map((s) => [slotKey(s.result), s]));
  for (const want of expected) {
    const key = slotKey(want.result);
    const got = actualSlots.get(key);
    actualSlots.delete(key);
    if (!got) problems.push(`slot ${key}: ${want.result.outcome} in the receipts, missing from the manifest`);
    else if (slotText(got) !== slotText(want)) problems.push(`slot ${key}: manifest says ${slotText(got)}, receipts say ${slotText(want)}`);
  }
  for (const extra of actualSlots.values()) problems.push(`slot ${slotKey(extra.result)}: in the manifest but in no receipt`);
  return problems;
}

function slotText({ fence, result: r, archived: a }: SlotRecord): string {
  const archived = a ? ` archived ${a.moved ? 'moved' : 'copied'} to ${a.destination} ${a.day}` : '';
  return `${r.outcome} lease ${fence} ${r.bytes ?? '-'} B ${r.sha256?.slice(0, 12) ?? '-'} bucket ${r.bucket ?? '-'}${archived}`;
}
