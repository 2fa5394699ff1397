import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { type ApiLimits, type BatchApiClient, createBatchApiClient, openTokenSource } from '../../src/api/index.js';
import { type RunningSimulator, type SimConfigInput, mintToken, startSimulator, writeTokenFile } from '../../src/sim/index.js';
import {
  CLIP_DEFAULTS,
  type ClipFetcher,
  type ClipOptions,
  type ClipOutcome,
  type SlotKey,
  createClipFetcher,
  folderDestination,
} from '../../src/worker/index.js';

export const DAY = '2025-11-17';

/** Short waits everywhere, so fault storms cost milliseconds; clips of 200 kB need a smaller minimum. */
export const FAST: Partial<ApiLimits & ClipOptions> = {
  backoffBaseMs: 10,
  backoffCapMs: 100,
  readyFirstPollMs: 10,
  readyPollCapMs: 80,
  readyMaxWaitMs: 15_000,
  defaultRetryAfterMs: 50,
  tokenPollMs: 50,
  minClipBytes: 50_000,
  maxConcurrent: 8,
  minTimeMs: 0,
};

export interface Rig {
  sim: RunningSimulator;
  dir: string;
  out: string;
  tokenFile: string;
  token: string;
  logs: { level: string; message: string }[];
  client(limits?: Partial<ApiLimits & ClipOptions>): RigClient;
  close(): Promise<void>;
}

/** The API client, plus the worker's clip pipeline into a plain folder (what `fetch` does) as `fetchSlot`. */
export interface RigClient extends BatchApiClient {
  fetchSlot(request: SlotKey & Parameters<ClipFetcher['fetch']>[2] & { outDir: string }): Promise<ClipOutcome>;
}

/** Limits split between the API client and the clip pipeline, as a worker gets them. */
export function rigClient(options: Omit<Parameters<typeof createBatchApiClient>[0], keyof ClipOptions> & Partial<ClipOptions>): RigClient {
  const clipOptions: Partial<ClipOptions> = {};
  const apiOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key in CLIP_DEFAULTS) Object.assign(clipOptions, { [key]: value });
    else apiOptions[key] = value;
  }
  const api = createBatchApiClient(apiOptions as unknown as Parameters<typeof createBatchApiClient>[0]);
  const clips = createClipFetcher(api, clipOptions, options.log ?? { info() {}, warn() {}, debug() {} });
  return {
    ...api,
    fetchSlot: ({ vehicle, camera, start, outDir, ...control }) =>
      clips.fetch({ vehicle, camera, start }, folderDestination(outDir), control),
  };
}

/** A simulator (fast, small clips), a temp folder with a valid token file, and clients wired to both. */
export async function startRig(config: SimConfigInput = {}, tokens?: string[]): Promise<Rig> {
  const token = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
  const sim = await startSimulator({ clipBytes: 200_000, timeScale: 0.05, tokens: tokens ?? [token], ...config });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-api-'));
  const tokenFile = path.join(dir, 'token');
  writeTokenFile(tokenFile, token);
  const logs: Rig['logs'] = [];
  const log = (level: string) => (message: string) => void logs.push({ level, message });
  return {
    sim,
    dir,
    out: path.join(dir, 'out'),
    tokenFile,
    token,
    logs,
    client: (limits = {}) =>
      rigClient({
        apiBase: sim.baseUrl,
        token: openTokenSource({ tokenFile }),
        log: { info: log('info'), warn: log('warn'), debug: log('debug') },
        ...FAST,
        ...limits,
      }),
    async close() {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir`, relative, sorted (hidden folders included). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}
