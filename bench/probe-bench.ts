/**
 * Probe /readyz latency at a fixed request rate (target p99 < 10 ms at 200 req/s).
 * `clawops probe serve` runs as its own process against a stand-in gateway and digest (served from here) and a
 * stand-in `openclaw` that prints the real doctor JSON. Requests are sent open-loop on a fixed schedule, each on a
 * fresh connection as a load balancer's health check would, and latency is measured from the scheduled send time,
 * so a stall shows up in the percentiles instead of slowing the sender down.
 * Run: npx tsx bench/probe-bench.ts [rate=200] [seconds=5]
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rate = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 5);
const root = join(import.meta.dirname, '..');

async function serve(body: () => unknown): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

const dir = mkdtempSync(join(tmpdir(), 'co-pbench-'));
const gateway = await serve(() => ({ ready: true, failing: [] }));
const digest = await serve(() => ({ generated_at: new Date().toISOString(), age_sec: 0.5, window_sec: 300, total: 0, dropped: 0, top: [] }));
const probe = (() => {
  mkdirSync(join(dir, 'policy'));
  copyFileSync(join(root, 'test/probe/fixtures/doctor-real-2026.9.6.json'), join(dir, 'doctor.json'));
  writeFileSync(join(dir, 'openclaw'), `#!/bin/sh\ncat '${join(dir, 'doctor.json')}'\n`);
  chmodSync(join(dir, 'openclaw'), 0o755);
  writeFileSync(join(dir, 'policy', 'doctor.json'), JSON.stringify({ tenant: 'acme', doctor: { interval_sec: 1 }, disk: { path: dir, warn_free_pct: 0, critical_free_pct: 0 } }));
  return spawn(
    join(root, 'bin/clawops'),
    ['probe', 'serve', '--tenant', 'acme', '--listen', '127.0.0.1:0', '--policy', join(dir, 'policy', 'doctor.json'), '--gateway-url', gateway.url, '--digest-url', `${digest.url}/v1/webhook-digest`, '--openclaw', join(dir, 'openclaw'), '--state-dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
})();

try {
  // the probe logs its address (port 0 → ephemeral) on stderr
  probe.stderr!.setEncoding('utf8');
  let err = '';
  probe.stderr!.on('data', (d: string) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /"listen":"(http:\/\/[^"]+)"/.exec(err);
      if (m) {
        clearInterval(t);
        resolve(m[1]!);
      } else if (probe.exitCode !== null) {
        clearInterval(t);
        reject(new Error(`probe exited: ${err}`));
      }
    }, 20);
  });
  // let every checker report once (doctor is a shell script here)
  for (let i = 0; i < 100; i++) {
    const status = await get(`${url}/readyz`);
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // warm-up
  for (let i = 0; i < 200; i++) await get(`${url}/readyz`);

  const n = Math.round(rate * seconds);
  const gap = 1000 / rate;
  const lat: number[] = [];
  const statuses = new Map<number, number>();
  const start = performance.now();
  await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const at = start + i * gap;
          setTimeout(() => {
            get(`${url}/readyz`)
              .then((s) => {
                lat.push(performance.now() - at);
                statuses.set(s, (statuses.get(s) ?? 0) + 1);
                resolve();
              })
              .catch(reject);
          }, Math.max(0, at - performance.now()));
        }),
    ),
  );
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const p99 = pct(lat, 99);
  console.log(
    `probe /readyz: ${n} requests at ${rate} req/s over ${elapsed.toFixed(1)} s (fresh connection each; statuses ${JSON.stringify(Object.fromEntries(statuses))}): ` +
      `p50 ${pct(lat, 50).toFixed(2)} ms, p90 ${pct(lat, 90).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms ` +
      `(target p99 < 10 ms) ${p99 < 10 ? 'OK' : 'SLOW'}`,
  );
} finally {
  probe.kill('SIGTERM');
  await new Promise((r) => (probe.exitCode !== null ? r(null) : probe.on('exit', r)));
  gateway.server.close();
  digest.server.close();
  rmSync(dir, { recursive: true, force: true });
}
