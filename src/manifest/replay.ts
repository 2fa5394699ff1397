import type { CampaignSettings } from '../plan/types.js';
import type { CampaignRecord } from './campaign-file.js';
import type { Receipt } from './receipts.js';
import type { ShardState, SlotResult, SlurmSubmission, WorkerIdentity } from './types.js';

/** A shard as the manifest holds it, minus heartbeat times. */
export interface ShardRecord {
  id: number;
  vehicle: string;
  hourStart: number;
  cameras: string[];
  state: ShardState;
  fence: number;
  attempts: number;
  owner?: WorkerIdentity;
  leaseUntilMs?: number;
  lastError?: string;
  releaseReason?: string;
}

export interface SlotRecord {
  shardId: number;
  fence: number;
  worker: string;
  result: SlotResult;
}

/** Everything `manifest rebuild` restores, and what `manifest verify` compares. */
export interface ManifestContent {
  settings: CampaignSettings;
  shards: ShardRecord[];
  slots: SlotRecord[];
  submissions: SlurmSubmission[];
}

const slotKey = (r: Pick<SlotResult, 'vehicle' | 'camera' | 'start'>): string => `${r.vehicle} ${r.camera} ${r.start}`;

const RANK = { claim: 0, slots: 1, end: 2, reset: 3 } as const;

/**
 * Replays receipts over the planned campaign. The events of one shard are ordered by fence (one lease
 * each), then claim → slots → end → reset within a fence, then journal order; that is the order the
 * manifest committed them in, because every write was fenced. Pure: no I/O.
 */
export function replayReceipts(campaign: CampaignRecord, receipts: readonly Receipt[]): { content: ManifestContent; problems: string[] } {
  const problems: string[] = [];
  const shards = new Map<number, ShardRecord>(
    campaign.shards.map((s) => [s.id, { ...s, cameras: [...s.cameras], state: 'pending', fence: 0, attempts: 0 }]),
  );
  const submissions: SlurmSubmission[] = [];
  type Step = { shardId: number; fence: number; rank: number; index: number; apply: (shard: ShardRecord) => void };
  const steps: Step[] = [];
  const slots = new Map<string, SlotRecord>();

  receipts.forEach((receipt, index) => {
    const e = receipt.event;
    switch (e.t) {
      case 'claim':
        steps.push({ shardId: e.shardId, fence: e.fence, rank: RANK.claim, index, apply: (s) => {
          Object.assign(s, { state: 'running', fence: e.fence, attempts: e.attempt, owner: e.owner, leaseUntilMs: e.leaseUntilMs });
          delete s.releaseReason;
        } });
        break;
      case 'slots':
        steps.push({ shardId: e.shardId, fence: e.fence, rank: RANK.slots, index, apply: () => {
          for (const result of e.results) slots.set(slotKey(result), { shardId: e.shardId, fence: e.fence, worker: e.workerId, result });
        } });
        break;
      case 'end':
        steps.push({ shardId: e.shardId, fence: e.fence, rank: RANK.end, index, apply: (s) => {
          s.state = e.state;
          delete s.leaseUntilMs;
          if (e.state === 'failed') s.lastError = e.note ?? '';
          if (e.state === 'done') delete s.lastError;
          if (e.state === 'released') s.releaseReason = e.note ?? '';
          else delete s.releaseReason;
        } });
        break;
      case 'reset':
        for (const { id, fence } of e.shards) {
          steps.push({ shardId: id, fence, rank: RANK.reset, index, apply: (s) => {
            Object.assign(s, { state: 'pending', attempts: 0 });
            delete s.owner;
            delete s.leaseUntilMs;
          } });
        }
        break;
      case 'submission':
        submissions.push(e.submission);
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
  return { content: { settings: campaign.settings, shards: [...shards.values()], slots: [...slots.values()], submissions }, problems };
}

/** What differs between the content the receipts imply and what the manifest holds (heartbeat times aside). */
export function diffContent(expected: ManifestContent, actual: ManifestContent): string[] {
  const problems: string[] = [];
  const actualShards = new Map(actual.shards.map((s) => [s.id, s]));
  for (const want of expected.shards) {
    const got = actualShards.get(want.id);
    actualShards.delete(want.id);
    if (!got) {
      problems.push(`shard ${want.id} (${want.vehicle} ${want.hourStart}) is planned but missing from the manifest`);
      continue;
    }
    if (got.vehicle !== want.vehicle || got.hourStart !== want.hourStart) {
      problems.push(`shard ${want.id} is ${got.vehicle} ${got.hourStart} in the manifest, ${want.vehicle} ${want.hourStart} in the campaign record`);
    }
    if (got.state !== want.state || got.fence !== want.fence || got.attempts !== want.attempts) {
      problems.push(
        `shard ${want.id}: manifest says ${got.state} (lease ${got.fence}, attempt ${got.attempts}), receipts say ${want.state} (lease ${want.fence}, attempt ${want.attempts})`,
      );
    }
  }
  for (const extra of actualShards.values()) problems.push(`shard ${extra.id} is in the manifest but not in the campaign record`);

  const actualSlots = new Map(actual.slots.map((s) => [slotKey(s.result), s]));
  for (const want of expected.slots) {
    const key = slotKey(want.result);
    const got = actualSlots.get(key);
    actualSlots.delete(key);
    if (!got) problems.push(`slot ${key}: ${want.result.outcome} in the receipts, missing from the manifest`);
    else if (slotText(got) !== slotText(want)) problems.push(`slot ${key}: manifest says ${slotText(got)}, receipts say ${slotText(want)}`);
  }
  for (const extra of actualSlots.values()) problems.push(`slot ${slotKey(extra.result)}: in the manifest but in no receipt`);
  if (expected.submissions.length !== actual.submissions.length) {
    problems.push(`${actual.submissions.length} Slurm submissions in the manifest, ${expected.submissions.length} in the receipts`);
  }
  return problems;
}

function slotText({ fence, result: r }: SlotRecord): string {
  return `${r.outcome} lease ${fence} ${r.bytes ?? '-'} B ${r.sha256?.slice(0, 12) ?? '-'} ${r.path ?? '-'}`;
}
