/**
 * Adversarial run 12: the controller's HTTP side (reconciler/controller/server.ts) under hostile requests: methods and
 * targets it does not expect, Host and query games against the status page, smuggling shapes and oversized or many
 * bodies against the git webhook. Promises held to: refusals are prompt and well-formed HTTP, nothing a client sends is
 * reflected raw, no pass without a good signature, memory stays bounded however many clients send.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signBody } from '../../reconciler/controller/server.js';
import { rawHttp, sleep, useHookServer } from '../helpers/attack12.js';
import { freePort } from '../helpers/ports.js';
import { REPO_ROOT } from '../helpers/repo.js';

const SECRET = 'hook-secret-0123456789abcdef';

describe('controller HTTP: methods, targets, Host and query games (adversarial run 12)', () => {
  const { port, triggers } = useHookServer(SECRET);
  const req = (s: string, ms = 3000): ReturnType<typeof rawHttp> => rawHttp(port(), s, ms);

  // fixed (was: /status and /healthz answer only GET: `HEAD /status` is a 404 "not found" (RFC 9110: a server supporting GET must support HEAD) and POST/PUT/DELETE on /status or /healthz are 404 instead of 405 with Allow (as / and /metrics do): handler() in reconciler/controller/server.ts falls through to the 404; it should answer HEAD like GET (no body) and other methods 405 with `Allow: GET, HEAD`)
  it('HEAD /status is answered like GET; POST /status and DELETE /healthz are 405 with Allow', async () => {
    const head = await req('HEAD /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head.status).toBe(200);
    expect(head.text).not.toContain('"schemaVersion"');
    const post = await req('POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    expect(post.status).toBe(405);
    expect(post.text).toMatch(/\r\nallow: GET, HEAD\r\n/i);
    const del = await req('DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(del.status).toBe(405);
  });

  it('Host header and query string games: nothing of them is reflected in the page; absolute-form and odd targets are plain 404s', async () => {
    const page = await req(`GET /?refresh=%3Cscript%3Ealert(1)%3C/script%3E&x=%00%0d%0aSet-Cookie:%20a=b HTTP/1.1\r\nHost: evil.example"><script>alert(2)</script>\r\nX-Forwarded-Host: evil2.example\r\nConnection: close\r\n\r\n`);
    expect(page.status).toBe(200);
    expect(page.text).not.toMatch(/evil2?\.example|alert\(|Set-Cookie: a=b/i);
    const json = await req('GET /?refresh=1e999 HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n');
    expect(json.status).toBe(200);
    const odd = await Promise.all([
      req('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      req('GET http://evil.example/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      req('GET /status/../hooks/git HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      req('OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      req(`GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\nConnection: close\r\n\r\n`),
    ]);
    expect(odd.map((a) => a.status)).toEqual([404, 404, 404, 404, 431]);
    expect(triggers).toEqual([]);
    const ok = await fetch(`http://127.0.0.1:${port()}/healthz`, { signal: AbortSignal.timeout(1000) });
    expect(ok.status).toBe(200);
  });

  it('smuggling shapes on the webhook are refused 400 and run no pass, even with a good signature of the visible body', async () => {
    const body = '{"ref":"refs/heads/main"}';
    const sig = signBody(SECRET, body);
    const answers = await Promise.all([
      req(`POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${sig}\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`),
      req(`POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${sig}\r\nContent-Length: ${body.length}\r\nContent-Length: 3\r\nConnection: close\r\n\r\n${body}`),
      req(`POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${sig}\r\nTransfer-Encoding: chunked, identity\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`),
    ]);
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400]);
    expect(triggers).toEqual([]);
  });

  it('a declared 64 MiB body is answered 413 at once, without waiting for (or reading) the body', async () => {
    const t0 = Date.now();
    const r = await req(`POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${signBody(SECRET, 'x')}\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n${'x'.repeat(1000)}`);
    expect(r.status).toBe(413);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(triggers).toEqual([]);
  });
});

describe('controller webhook: many unauthenticated bodies at once (adversarial run 12)', () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  // fixed (was: the git webhook buffers every request's body (up to 1 MiB each) before checking the signature, with no cap on how many are read at once (and no server.maxConnections): 96 unauthenticated clients each sending 1 MiB minus one byte hold ~96 MiB of the controller's memory for the requestTimeout (30-60 s), N clients N MiB; readBody/handler in reconciler/controller/server.ts should bound the bytes buffered for unverified bodies across requests (e.g. a few concurrent reads, 503 beyond) or the connections)
  it('96 clients each sending an almost-1-MiB unsigned body: the controller holds far less than their sum', async () => {
    dir = mkdtempSync(join(tmpdir(), 'co-c12-'));
    const script = join(dir, 'serve.mts');
    writeFileSync(
      script,
      `import { startServer } from ${JSON.stringify(join(REPO_ROOT, 'reconciler/controller/server.ts'))};
import { emptyStatus } from ${JSON.stringify(join(REPO_ROOT, 'reconciler/controller/status.ts'))};
const doc = emptyStatus({ pid: 1, startedAt: '2026-11-01T00:00:00.000Z', mode: 'auto', repo: '/nowhere', intervalSec: 60 });
const port = Number(process.argv[2]);
await startServer({ host: '127.0.0.1', port }, { status: () => doc, alive: () => true, trigger: () => undefined, secret: Buffer.from('s3cret-s3cret'), log: { info() {}, warn() {}, error() {}, debug() {} } as never });
globalThis.gc?.();
console.log('listening');
setInterval(() => console.log('rss ' + process.memoryUsage().rss), 100);
`,
    );
    const port = await freePort();
    child = spawn(process.execPath, ['--expose-gc', '--import', join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs'), script, String(port)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const rss = (): number => Number(/rss (\d+)\n(?![\s\S]*rss )/.exec(out)?.[1] ?? NaN);
    for (let i = 0; i < 200 && !/rss \d+/.test(out); i++) await sleep(50);
    await sleep(300);
    const before = rss();
    expect(Number.isFinite(before)).toBe(true);
    const N = 96;
    const BODY = 1024 * 1024;
    const chunk = Buffer.alloc(BODY - 1, 0x61);
    await Promise.all(
      Array.from(
        { length: N },
        () =>
          new Promise<void>((resolve) => {
            const s = connect(port, '127.0.0.1', () => {
              s.write(`POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`);
              s.write(chunk, () => resolve());
            });
            s.on('error', () => resolve());
            s.resume();
            sockets.push(s);
          }),
      ),
    );
    await sleep(1500);
    const grown = rss() - before;
    expect(grown, `the controller grew by ${Math.round(grown / 1048576)} MiB`).toBeLessThan(32 * 1024 * 1024);
  }, 30_000);
});
