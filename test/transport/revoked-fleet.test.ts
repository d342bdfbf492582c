/**
 * `clawops diff` against real sshd nodes refuses a node whose host key known_hosts marks `@revoked`, whether
 * nodes.yaml pins that key or known_hosts lists it plainly, and still observes the other nodes.
 */
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetAvailable, startFleet, type Fleet } from '../fleet/fleet.js';
import { fleetRepo } from '../helpers/fleet-repo.js';
import { runCli } from '../helpers/repo.js';
import { fingerprint, parsePublicKey } from '../../reconciler/transport/host-keys.js';

const avail = fleetAvailable();

describe.skipIf(!avail.ok)('clawops diff: a revoked host key on a real sshd', () => {
  let fleet: Fleet;
  let repo: string;
  let gw1Fp: string;
  const knownHosts = (extra: string[]): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'clawops-kh-')), 'known_hosts');
    writeFileSync(file, `${readFileSync(fleet.knownHostsPath, 'utf8')}${extra.join('\n')}\n`);
    return file;
  };
  const diff = (...extra: string[]) => runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--json', ...extra]);
  type PlanJson = { nodes: { node: string; status: string; issues: { message: string }[] }[] };

  beforeAll(async () => {
    fleet = await startFleet({ names: ['gw-1', 'gw-2'] });
    repo = fleetRepo(fleet);
    gw1Fp = fingerprint(parsePublicKey(fleet.node('gw-1').hostKey)!.blob);
  });
  afterAll(async () => {
    await fleet?.stop();
  });

  it('control: without a revocation gw-1 is not refused', async () => {
    const r = await diff('--known-hosts', knownHosts([]));
    const j = JSON.parse(r.stdout) as PlanJson;
    expect(j.nodes.find((n) => n.node === 'gw-1')!.status).not.toBe('HostKeyMismatch');
  });

  it('the key pinned in nodes.yaml is revoked through `@revoked *`: gw-1 refused with one line naming it, gw-2 observed', async () => {
    const r = await diff('--known-hosts', knownHosts([`@revoked * ${fleet.node('gw-1').hostKey}`]));
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as PlanJson;
    const gw1 = j.nodes.find((n) => n.node === 'gw-1')!;
    expect(gw1.status).toBe('HostKeyMismatch');
    expect(gw1.issues.map((i) => i.message)).toEqual([expect.stringMatching(new RegExp(`host key ssh-ed25519 ${gw1Fp.replace(/[+/]/g, '\\$&')} is revoked`))]);
    expect(gw1.issues[0]!.message).not.toContain('\n');
    expect(j.nodes.find((n) => n.node === 'gw-2')!.status).not.toBe('HostKeyMismatch');

    const text = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--known-hosts', knownHosts([`@revoked * ${fleet.node('gw-1').hostKey}`])]);
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n').filter((l) => l.includes(gw1Fp))).toEqual([expect.stringMatching(/gw-1: .*revoked/)]);
  });

  it('a key listed plainly in known_hosts (no pin in nodes.yaml) and also @revoked is refused', async () => {
    const node = fleet.node('gw-1');
    const unpinned = fleetRepo(fleet, {
      'nodes.yaml': readFileSync(join(repo, 'nodes.yaml'), 'utf8').replace(`host_key: ${node.hostKey}`, '').replace(/\n\s*\n/g, '\n'),
    });
    expect(readFileSync(join(unpinned, 'nodes.yaml'), 'utf8')).not.toContain(node.hostKey);
    const r = await runCli(['diff', '--repo', unpinned, '--identity', fleet.clientKeyPath, '--json', '--node', 'gw-1', '--known-hosts', knownHosts([`@revoked [${node.host}]:${node.port} ${node.hostKey}`])]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as PlanJson;
    expect(j.nodes).toHaveLength(1);
    expect(j.nodes[0]!.status).toBe('HostKeyMismatch');
    expect(j.nodes[0]!.issues[0]!.message).toContain(`${gw1Fp} is revoked`);
  });
});
