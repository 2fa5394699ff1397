/** A raw HTTP client for the simulator tests: reports exactly what arrived, even when a body is cut. */
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { RunningSimulator } from '../../src/sim/index.js';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** false when the connection ended before Content-Length bytes arrived */
  complete: boolean;
}

export function request(
  url: string,
  { method = 'GET', headers = {} }: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const body = Buffer.concat(chunks);
        const expected = res.headers['content-length'];
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          complete: res.complete && (method === 'HEAD' || expected === undefined || Number(expected) === body.length),
        });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });
    req.on('error', reject);
    req.end();
  });
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The filename out of any of the three /v1/video shapes. */
export function filenameOf(res: RawResponse): string {
  const text = res.body.toString('utf8');
  if (!String(res.headers['content-type']).startsWith('application/json')) return text.trim();
  const parsed = JSON.parse(text) as unknown;
  return typeof parsed === 'string' ? parsed : (parsed as { filename: string }).filename;
}

export function videoUrl(sim: RunningSimulator, vehicle: string, camera: string, startTime: number, endTime = startTime + 30): string {
  return `${sim.baseUrl}/v1/video?vehicle=${vehicle}&camera=${camera}&startTime=${startTime}&endTime=${endTime}`;
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/** Polls GET /v1/download until it stops answering "not ready" (404/500/503). */
export async function readyDownload(sim: RunningSimulator, filename: string, token: string, timeoutMs = 5000): Promise<RawResponse> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(`${sim.baseUrl}/v1/download?filename=${filename}`, { headers: bearer(token) });
    if (![404, 500, 503].includes(res.status) || Date.now() > until) return res;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The bytes behind a ready /v1/download answer, whatever its shape; never sends the token to /presigned. */
export async function clipBytesOf(res: RawResponse): Promise<RawResponse> {
  if (res.status === 302 || res.status === 307) return request(String(res.headers.location));
  const type = String(res.headers['content-type']);
  if (type.startsWith('application/json')) return request((JSON.parse(res.body.toString()) as { url: string }).url);
  const text = res.body.subarray(0, 8).toString('latin1');
  if (text.startsWith('http')) return request(res.body.toString('utf8').trim());
  return res;
}
