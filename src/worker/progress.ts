import { formatDuration } from '../duration.js';
import type { ProgressMode } from './options.js';

/** Final outcomes counted over a sliding window: the rate that an ETA is built on. */
export class RateMeter {
  private readonly events: { atMs: number; count: number }[] = [];

  constructor(private readonly windowMs = 60_000) {}

  add(count: number, nowMs: number): void {
    if (count > 0) this.events.push({ atMs: nowMs, count });
  }

  /** per second over the window (or since the first event, if younger) */
  perSecond(nowMs: number, startedMs: number): number {
    while (this.events.length > 0 && this.events[0]!.atMs < nowMs - this.windowMs) this.events.shift();
    const spanMs = Math.min(this.windowMs, nowMs - startedMs);
    if (spanMs <= 0) return 0;
    return (this.events.reduce((n, e) => n + e.count, 0) * 1000) / spanMs;
  }
}

export interface ProgressSnapshot {
  /** slots with a final outcome */
  done: number;
  total: number;
  ok: number;
  /** what `ok` counts, when not downloaded clips (a scan's: slots with data) */
  okLabel?: string;
  /** slots per second */
  rate: number;
  /** extra words, e.g. `2 workers` or `shard 7` */
  note?: string;
}

function etaSeconds(p: ProgressSnapshot): number | undefined {
  const left = p.total - p.done;
  if (left <= 0) return 0;
  return p.rate > 0 ? left / p.rate : undefined;
}

/** `[#####-----] 412/960 slots (43%) 380 ok  3.2/s  ETA 2m51s  3 workers` */
export function formatProgressLine(p: ProgressSnapshot, barWidth = 24): string {
  const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const filled = Math.round(fraction * barWidth);
  const bar = barWidth > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ` : '';
  return (
    `${bar}${p.done}/${p.total} slots (${Math.floor(fraction * 100)}%) ${p.ok} ${p.okLabel ?? 'ok'}  ` +
    `${p.rate.toFixed(1)}/s  ETA ${formatDuration(etaSeconds(p))}${p.note ? `  ${p.note}` : ''}`
  );
}

/**
 * On a TTY a bar redrawn in place (once a second); without one (Slurm output files) a plain line every `intervalMs`.
 * `snapshot` is asked each time and drawn by `render` (slots by default; `archive` draws clips and bytes/s); the
 * reporter holds no state of the work itself.
 */
export class ProgressReporter<T = ProgressSnapshot> {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;
  private readonly mode: 'bar' | 'lines' | 'off';

  constructor(
    private readonly out: { write(text: string): unknown; isTTY?: boolean },
    mode: ProgressMode,
    private readonly intervalMs: number,
    private readonly snapshot: () => NoInfer<T> | undefined,
    private readonly render: (p: T, barWidth?: number) => string = formatProgressLine as (p: T, barWidth?: number) => string,
  ) {
    this.mode = mode === 'auto' ? (out.isTTY ? 'bar' : 'lines') : mode;
  }

  start(): void {
    if (this.mode === 'off') return;
    this.timer = setInterval(() => this.draw(), this.mode === 'bar' ? 1000 : this.intervalMs);
    this.timer.unref();
  }

  /** clears the bar so the next line starts clean; a final line in line mode */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'bar' && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  /** a log line is about to be written: take the bar off the screen first (it comes back on the next tick) */
  clear(): void {
    if (this.mode === 'bar' && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  private draw(): void {
    const p = this.snapshot();
    if (!p) return;
    if (this.mode === 'bar') {
      this.out.write(`\r\x1b[K${this.render(p)}`);
      this.drawn = true;
    } else {
      this.out.write(`progress ${this.render(p, 0)}\n`);
    }
  }
}
