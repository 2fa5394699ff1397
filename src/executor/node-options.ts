/**
 * Node options every worker the product starts gets: semi-spaces of at most 2 MB. Left alone, V8 grows the young
 * generation to 2 x 16 MB and lets each clip's 64 KiB socket buffers pile up between scavenges; capped, a worker
 * downloading 20 MB clips peaked at 129 MB instead of 142 (medians of 3), at no speed cost measurable here
 * (docs/performance.md).
 */
const WORKER_NODE_OPTIONS = '--max-semi-space-size=2';

/** NODE_OPTIONS for a worker process: ours first, so that options the user set (later) win. */
export function workerNodeOptions(inherited: string | undefined): string {
  return inherited ? `${WORKER_NODE_OPTIONS} ${inherited}` : WORKER_NODE_OPTIONS;
}
