/**
 * The ssh transport honours `@revoked` on every path: a key pinned in nodes.yaml, a key listed plainly in known_hosts,
 * a revocation through a `*` pattern. An in-process ssh2 server with a real ssh-keygen host key stands in for sshd,
 * so these run without root; test/transport/revoked-fleet.test.ts does the same against a real sshd with the CLI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeyError, SshError } from '../../reconciler/errors.js';
import { fingerprint, parsePublicKey } from '../../reconciler/transport/host-keys.js';
import { SshTransport, type SshTarget } from '../../reconciler/transport/ssh-transport.js';

const haveKeygen = spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;

describe.skipIf(!haveKeygen)('ssh transport: revoked host keys', () => {
  let dir: string;
  let server: Server;
  let port: number;
  /** `ssh-ed25519 AAAA…` of the key the server presents, and of another key */
  let hostKey: string;
  let otherKey: string;
  let clientKey: string;
  let connections = 0;

  const keygen = (name: string): string => {
    const file = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
    return file;
  };
  const pub = (file: string): string => readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  const fp = (line: string): string => fingerprint(parsePublicKey(line)!.blob);
  const knownHosts = (lines: string[]): string => {
    const file = join(mkdtempSync(join(dir, 'kh-')), 'known_hosts');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
  const target = (extra: Partial<SshTarget> = {}): SshTarget => ({ name: 'gw-1', host: '127.0.0.1', port, user: 'clawops', ...extra });
  const connect = (t: SshTarget, knownHostsFile?: string): Promise<SshTransport> =>
    SshTransport.connect(t, { identityFile: clientKey, ...(knownHostsFile ? { knownHostsFile } : {}), connectTimeoutMs: 5000, commandTimeoutMs: 5000, keepaliveMs: 0 });
  const refusal = async (p: Promise<SshTransport>): Promise<Error> => {
    try {
      const t = await p;
      await t.close();
    } catch (e) {
      return e as Error;
    }
    throw new Error('connected, but should have been refused');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clawops-ssh-revoked-'));
    const hostKeyFile = keygen('host');
    hostKey = pub(hostKeyFile);
    otherKey = pub(keygen('other'));
    clientKey = keygen('client');
    server = new Server({ hostKeys: [readFileSync(hostKeyFile)] }, (client) => {
      connections++;
      client.on('error', () => undefined);
      client.on('authentication', (ctx) => ctx.accept());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server?.close();
  });

  it('control: the pinned key and a plain known_hosts line both connect', async () => {
    await (await connect(target({ hostKey }))).close();
    await (await connect(target(), knownHosts([`[127.0.0.1]:${port} ${hostKey}`]))).close();
  });

  it('a key listed plainly and also @revoked is refused before connecting, naming node, fingerprint and "revoked"', async () => {
    const kh = knownHosts([`[127.0.0.1]:${port} ${hostKey}`, `@revoked [127.0.0.1]:${port} ${hostKey}`]);
    const before = connections;
    const e = await refusal(connect(target(), kh));
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toBe(`gw-1: host key ssh-ed25519 ${fp(hostKey)} is revoked (@revoked in ${kh}); refusing to connect`);
    expect(connections).toBe(before);
  });

  it('a key pinned in nodes.yaml is refused when known_hosts revokes it through *', async () => {
    const kh = knownHosts([`@revoked * ${hostKey}`]);
    const e = await refusal(connect(target({ hostKey }), kh));
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toMatch(new RegExp(`^gw-1: host key ssh-ed25519 ${fp(hostKey).replace(/[+/]/g, '\\$&')} is revoked`));
  });

  it('the node presenting a revoked key while another listed key is still good: refused after the handshake', async () => {
    // known_hosts lists two keys for the host; the one the node presents is revoked, the other is not
    const kh = knownHosts([`[127.0.0.1]:${port} ${hostKey}`, `[127.0.0.1]:${port} ${otherKey}`, `@revoked [127.0.0.1]:* ${hostKey}`]);
    const before = connections;
    const e = await refusal(connect(target(), kh));
    expect(connections).toBe(before + 1);
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toContain(`host key ssh-ed25519 ${fp(hostKey)} is revoked`);
    expect(e.message).not.toContain('\n');
  });

  it('a revocation for another host pattern does not apply', async () => {
    const kh = knownHosts([`[127.0.0.1]:${port} ${hostKey}`, `@revoked gw-*,!127.0.0.1 ${hostKey}`, `@revoked [127.0.0.1]:1 ${hostKey}`]);
    await (await connect(target(), kh)).close();
    await (await connect(target({ hostKey }), kh)).close();
  });

  it('a @cert-authority line is not a pin', async () => {
    const e = await refusal(connect(target(), knownHosts([`@cert-authority * ${hostKey}`])));
    expect(e).toBeInstanceOf(SshError);
    expect(e.message).toMatch(/^gw-1: no host key for 127\.0\.0\.1:\d+ in .*; refusing to connect to an unknown host$/);
  });

  it('a revoked other key does not stop the pinned one', async () => {
    await (await connect(target({ hostKey }), knownHosts([`@revoked * ${otherKey}`]))).close();
  });
});
