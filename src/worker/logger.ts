import fs from 'node:fs';
import path from 'node:path';
import winston from 'winston';
import { Writable } from 'node:stream';
import { type FileModes, makeDirSync, openCreatingSync } from '../file-modes.js';
import type { LogLevel } from './options.js';

/** Where a worker's logs go: the run folder's `logs/<worker-id>.log`. */
export function workerLogPath(runDir: string, workerId: string): string {
  return path.join(runDir, 'logs', `${workerId}.log`);
}

export interface WorkerLogger {
  log: winston.Logger;
  /** flushes and closes the log file */
  close(): Promise<void>;
}

/** `12:03:04 info  shard 7 mav 2025-11-17T08:00Z done  ok=212 missing=28` — the line a human reads on stderr. */
function formatHumanLine(info: { level: string; message: unknown; timestamp?: unknown; [key: string]: unknown }): string {
  const time = typeof info.timestamp === 'string' ? info.timestamp.slice(11, 19) : '';
  const fields = Object.entries(info)
    .filter(([k, v]) => !['level', 'message', 'timestamp', 'workerId'].includes(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return [time, info.level.padEnd(5), String(info.message), ...fields].filter(Boolean).join(' ');
}

/** A stream over anything with `write` (the CLI's stderr, a test buffer), for winston's Stream transport. */
function lineStream(out: { write(text: string): unknown }): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.write(chunk.toString('utf8'));
      done();
    },
  });
}

/**
 * JSON lines (every level from `level` down) into the log file, human lines on stderr. Fields use the ErrorContext keys
 * (vehicle, camera, slot, shardId, status) so one grep finds a slot in logs and errors alike. No token ever reaches
 * a logger: the worker never holds one, and the API client logs URLs without their query.
 */
export function createWorkerLogger(opts: {
  logFile: string;
  /** of the logs folder and the log file, when they are created (the campaign's) */
  modes: Readonly<FileModes>;
  level: LogLevel;
  stderr: { write(text: string): unknown };
  /** stderr gets less than the file by default: per-shard lines, warnings, errors */
  stderrLevel?: LogLevel;
  workerId: string;
}): WorkerLogger {
  makeDirSync(path.dirname(opts.logFile), opts.modes);
  const file = fs.createWriteStream(opts.logFile, { fd: openCreatingSync(opts.logFile, 'a', opts.modes).fd });
  const log = winston.createLogger({
    level: opts.level,
    defaultMeta: { workerId: opts.workerId },
    format: winston.format.timestamp(),
    transports: [
      new winston.transports.Stream({ stream: file, format: winston.format.json() }),
      new winston.transports.Stream({
        stream: lineStream(opts.stderr),
        level: opts.stderrLevel ?? (opts.level === 'debug' ? 'debug' : 'info'),
        format: winston.format.printf((info) => formatHumanLine(info)),
      }),
    ],
  });
  return {
    log,
    close: () =>
      new Promise<void>((resolve) => {
        log.close();
        file.end(() => resolve());
      }),
  };
}
