/**
 * Early ssh logins (commands/diff.ts): started from nodes.yaml and clawops.yaml before the desired state is built,
 * used only for exactly the node and ssh settings the built state has, closed when nobody takes them.
 */
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dropEarly, startEarlyLogins, takeEarly } from '../../reconciler/commands/diff.js';
import { nodeWithDefaults, settingsWithDefaults } from '../../reconciler/desired/defaults.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKv+BL3K5l8xU5bGziJO29us4hAAAAAAAAAAAAAAAAAA';
let dir: string;
let server: Server;
let port = 0;
let accepted = 0;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clawops-early-'));
  accepted = 0;
  // a TCP listener that is not sshd: it takes the connection and closes it (a login fails fast, for real)
  server = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as { port: number }).port;
});
afterEach(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((ok) => server.close(() => ok()));
});

function inventory(nodes: number, extra = ''): void {
  const list = Array.from({ length: nodes }, (_, i) => `  - name: gw-${i + 1}\n    host: 127.0.0.1\n    port: ${port}\n    host_key: ${KEY}\n    role: gateway\n    tenants: [acme]\n`).join('');
  writeFileSync(join(dir, 'nodes.yaml'), `nodes:\n${list}${extra}`);
  writeFileSync(join(dir, 'clawops.yaml'), 'concurrency: 2\n');
}

describe('early ssh logins', () => {
  it('starts only the first wave (concurrency nodes), in inventory order, honouring --node', async () => {
    inventory(3);
    const early = startEarlyLogins({ repo: dir });
    expect([...early.keys()]).toEqual(['gw-1', 'gw-2']);
    await dropEarly(early);
    expect(early.size).toBe(0);
    const one = startEarlyLogins({ repo: dir, node: ['gw-3'] });
    expect([...one.keys()]).toEqual(['gw-3']);
    await dropEarly(one);
    const conc = startEarlyLogins({ repo: dir, concurrency: '1' });
    expect([...conc.keys()]).toEqual(['gw-1']);
    await dropEarly(conc);
  });

  it('starts none for a --ref, a URL, a missing or malformed inventory, a bad --concurrency or a missing --identity', async () => {
    inventory(2);
    expect(startEarlyLogins({ repo: dir, ref: 'main' }).size).toBe(0);
    expect(startEarlyLogins({ repo: 'https://example.invalid/infra.git' }).size).toBe(0);
    expect(startEarlyLogins({ repo: dir, concurrency: 'x' }).size).toBe(0);
    expect(startEarlyLogins({ repo: dir, identity: join(dir, 'no-such-key') }).size).toBe(0);
    writeFileSync(join(dir, 'nodes.yaml'), 'nodes: [\n');
    expect(startEarlyLogins({ repo: dir }).size).toBe(0);
    writeFileSync(join(dir, 'nodes.yaml'), 'nodes:\n  - null\n');
    expect(startEarlyLogins({ repo: dir }).size).toBe(0);
    rmSync(join(dir, 'nodes.yaml'));
    expect(startEarlyLogins({ repo: dir }).size).toBe(0);
    expect(accepted).toBe(0);
  });

  it('hands a login and its observation over only for the same node, ssh settings and paths; else drops it at once', async () => {
    inventory(1);
    const settings = settingsWithDefaults({ concurrency: 2 });
    const node = nodeWithDefaults({ name: 'gw-1', host: '127.0.0.1', port, host_key: KEY, role: 'gateway', tenants: ['acme'] });
    const mismatches: [string, Parameters<typeof takeEarly>[1], Parameters<typeof takeEarly>[2]][] = [
      ['port', { ...node, port: port + 1 }, settings],
      ['host key', { ...node, host_key: undefined }, settings],
      ['known_hosts', node, { ...settings, ssh: { ...settings.ssh, known_hosts: '/etc/ssh/ssh_known_hosts' } }],
      ['connect timeout', node, { ...settings, ssh: { ...settings.ssh, connect_timeout_ms: 1 } }],
      ['paths', node, { ...settings, paths: { ...settings.paths, etc: '/opt/openclaw' } }],
    ];
    for (const [what, n, s] of mismatches) {
      const early = startEarlyLogins({ repo: dir });
      expect(takeEarly(early, n, s, 'T\tacme\n'), what).toBeUndefined();
      expect(early.size, what).toBe(0);
    }
    const early = startEarlyLogins({ repo: dir });
    const got = takeEarly(early, node, settings, 'T\tacme\n');
    expect(got).toBeDefined();
    expect(early.size).toBe(0);
    // the login fails (not an sshd): the caller sees the login error, naming the node, and no observation
    await expect(got!.transport).rejects.toThrow(/gw-1/);
    await expect(got!.observation).rejects.toThrow(/gw-1/);
    expect(takeEarly(early, node, settings, '')).toBeUndefined();
    await expect.poll(() => accepted).toBe(mismatches.length + 1);
  });
});
