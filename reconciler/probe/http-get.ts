/**
 * A GET with one deadline for the whole exchange (connect, headers, body) and a body cap. No pooling: the probe
 * polls each target every few seconds, and a fresh connection per poll is what a load balancer would see too.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpResult {
  status: number;
  /** parsed JSON, or undefined when the body was empty or not JSON */
  json: unknown;
}

export class HttpGetError extends Error {}

export function getJson(url: string, timeoutMs: number, maxBytes = 4 * 1024 * 1024): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new HttpGetError('bad URL'));
      return;
    }
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    let done = false;
    const fail = (msg: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      reject(new HttpGetError(msg));
    };
    const req = request(u, { method: 'GET', agent: false, headers: { accept: 'application/json' } }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > maxBytes) fail(`response larger than ${maxBytes} bytes`);
        else parts.push(d);
      });
      res.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
      res.on('end', () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : (JSON.parse(text) as unknown);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    req.end();
  });
}
