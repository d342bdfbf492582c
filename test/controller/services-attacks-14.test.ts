/**
 * Attacks 14 on the controller's webhook read bound (reconciler/controller/server.ts: at most 8 unsigned bodies read
 * at once, 503 beyond; the count given back on the request's close or the body's end).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signBody } from '../../reconciler/controller/server.js';
import { rawHttp, sleep, useHookServer } from '../helpers/attack12.js';

const SECRET = 'hook-secret-a14-0123456789abcdef';
const BODY = '{"ref":"refs/heads/main"}';

describe('controller webhook read bound (attacks 14)', () => {
  const hook = useHookServer(SECRET);
  const { triggers } = hook;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await sleep(100);
  });

  const signed = (): Promise<{ status: number }> =>
    rawHttp(hook.port(), `POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${signBody(SECRET, BODY)}\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`, 3000);

  /** a client that sends the headers and part of the body, then `what` */
  const partial = (declared: number): Promise<Socket> =>
    new Promise((resolve) => {
      const s = connect(hook.port(), '127.0.0.1', () => {
        s.write(`POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: ${declared}\r\n\r\n${'x'.repeat(100)}`);
        resolve(s);
      });
      s.on('error', () => {});
      sockets.push(s);
    });

  it('holds: 40 clients that abort mid-body, send too much, or a bad signature leave no slot taken: a signed push is 202 right after', async () => {
    for (let round = 0; round < 5; round++) {
      const held = await Promise.all(Array.from({ length: 8 }, () => partial(10_000)));
      await sleep(50);
      for (const s of held) s.destroy();
    }
    await Promise.all([
      ...Array.from({ length: 8 }, () => rawHttp(hook.port(), `POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`, 2000)),
      ...Array.from({ length: 8 }, () => rawHttp(hook.port(), `POST /hooks/git HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(2 * 1024 * 1024).toString(16)}\r\n${'y'.repeat(1024 * 1024 + 10)}`, 2000)),
    ]);
    await sleep(200);
    const r = await signed();
    expect(r.status).toBe(202);
    expect(triggers).toEqual(['webhook']);
  });

  it('holds: keep-alive requests (several webhooks on one connection) give their slot back', async () => {
    const one = `POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${signBody(SECRET, BODY)}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
    const r = await rawHttp(hook.port(), one.repeat(12) + `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);
    expect((r.text.match(/HTTP\/1\.1 202/g) ?? []).length).toBe(12);
    expect((await signed()).status).toBe(202);
  });

  // fixed (was: 8 connections that send a webhook's headers and a few body bytes, then nothing, shut the git webhook for everyone (503) for the requestTimeout (30 s) and again on reconnect: server.ts:handler counts slow readers against MAX_HOOK_READS with no read deadline shorter than requestTimeout; give an unsigned body a short deadline of its own (e.g. 5 s / a minimum rate) or bound buffered bytes rather than readers, so idle readers cannot hold every slot)
  it('8 idle half-sent webhooks do not lock a signed push out', async () => {
    await Promise.all(Array.from({ length: 8 }, () => partial(500_000)));
    await sleep(300);
    const r = await signed();
    expect(r.status).toBe(202);
  });

});
