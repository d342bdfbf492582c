/**
 * Notifier ingest rate: events/s from NDJSON over the UNIX socket into the digest.
 * The notifier runs in this process (its own event loop); the gateways are child processes, each writing its
 * share of schema-valid failure lines over its own connection as fast as the socket takes them. The clock stops
 * when the digest has counted every event.
 * Run: npx tsx bench/notifier-bench.ts [events=1000000] [connections=4] [keys=50]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startNotifier } from '../reconciler/notifier/service.js';

const events = Number(process.argv[2] ?? 1_000_000);
const connections = Number(process.argv[3] ?? 4);
const keys = Number(process.argv[4] ?? 50);
const perConn = Math.floor(events / connections);
const total = perConn * connections;

// one gateway: builds a 1,000-line chunk (distinct delivery ids, `keys` tenant/endpoint pairs, mixed statuses)
// and writes it until its share is done, respecting back-pressure
const writer = `
const net = require('node:net');
const [sock, n, keys, id] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const statuses = [500, 502, 503, 504, 'timeout', 'network', 404, 429];
const lines = [];
for (let i = 0; i < 1000; i++) {
  const k = (i * 7 + id) % keys;
  lines.push(JSON.stringify({ tenant: 'tenant-' + (k % 10), endpoint: 'https://hooks-' + k + '.example.com/openclaw/' + i, status: statuses[i % statuses.length], time: new Date(1800000000000 + i).toISOString(), delivery_id: 'd-' + id + '-' + i }));
}
const chunk = Buffer.from(lines.join('\\n') + '\\n');
const c = net.connect(sock, () => {
  let left = n / 1000;
  const pump = () => {
    while (left > 0) {
      left--;
      if (!c.write(chunk)) return c.once('drain', pump);
    }
    c.end();
  };
  pump();
});
c.on('close', () => process.exit(0));
`;

const dir = mkdtempSync(join(tmpdir(), 'co-nbench-'));
try {
  if (perConn % 1000 !== 0) throw new Error('events/connections must be a multiple of 1000');
  const notifier = await startNotifier({
    socketPath: join(dir, 'n.sock'),
    listen: { host: '127.0.0.1', port: 0 },
    windowSec: 300,
    maxKeys: 10_000,
    logger: pino({ level: 'warn' }),
    tickMs: 10,
  });
  const t0 = performance.now();
  const children = Array.from({ length: connections }, (_, i) => spawn(process.execPath, ['-e', writer, notifier.socketPath, String(perConn), String(keys), String(i)], { stdio: 'inherit' }));
  for (;;) {
    await notifier.refresh();
    if (notifier.snapshot().total >= total) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.on('exit', r)))));
  const snap = notifier.snapshot();
  await notifier.close();
  if (snap.dropped !== 0) throw new Error(`${snap.dropped} lines dropped`);
  const rate = total / secs;
  console.log(
    `notifier ingest: ${total.toLocaleString('en-US')} events over ${connections} connections into ${snap.keys} digest rows in ${secs.toFixed(2)} s: ` +
      `${Math.round(rate).toLocaleString('en-US')} events/s`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
