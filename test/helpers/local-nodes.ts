/**
 * Two local nodes (the `local` transport: a directory stands for each Mac's /) and the example repo deploying to them:
 * gw-1 the canary with acme, gw-2 with acme and globex, each node its own gateway port block. What a local fleet needs
 * for services is on each node: the real OpenClaw CLI, the launchctl front end and stand-in (state inside the node),
 * the fast fake gateway the repo's unit runs, and the tenants' secrets provisioned out of band as on a real Mac.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installFakeGateway, installLaunchctl } from '../fleet/node-bin.js';
import { fleetUnitEdits, git, portBlock } from './fleet-repo.js';
import type { openclawCache } from './openclaw.js';
import { exampleRepo } from './repo.js';

export const LOCAL_NODES = ['gw-1', 'gw-2'] as const;

export interface LocalNodes {
  /** the temp dir holding the nodes (removed by stop) */
  work: string;
  /** the infra repo (a git checkout) deploying to them */
  repo: string;
  root(node: string): string;
  /** boot out every service the test started, then remove the nodes (which frees their port blocks) */
  stop(): void;
}

export function localNodes(cache: NonNullable<ReturnType<typeof openclawCache>>, prefix: string): LocalNodes {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const root = (n: string): string => join(work, 'nodes', n);
  for (const n of LOCAL_NODES) {
    const bin = join(root(n), 'usr/local/bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(cache.node, join(bin, 'node'));
    symlinkSync(cache.mjs, join(bin, 'openclaw'));
    installLaunchctl(bin, process.execPath);
    installFakeGateway(bin, process.execPath);
    for (const t of ['acme', 'globex']) {
      const dir = join(root(n), 'var/db/openclaw/secrets', t);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const name of ['token.current', 'hooks.token']) writeFileSync(join(dir, name), `tok-${n}-${t}-${name}-Zq8vN3xL2pR7\n`, { mode: 0o600 });
    }
  }
  const repo = exampleRepo({
    ...fleetUnitEdits(),
    // local nodes share this machine's network: distinct gateway port blocks
    'nodes.yaml': `nodes:\n  - { name: gw-1, host: localhost, transport: local, root: ${root('gw-1')}, role: gateway, canary: true, port_offset: ${portBlock(root('gw-1'))}, tenants: [acme] }\n  - { name: gw-2, host: localhost, transport: local, root: ${root('gw-2')}, role: gateway, port_offset: ${portBlock(root('gw-2'))}, tenants: [acme, globex] }\n`,
  });
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'init');
  return {
    work,
    repo,
    root,
    stop: () => {
      for (const n of LOCAL_NODES) {
        execFileSync('sh', ['-c', `for f in "$1"/Library/LaunchDaemons/*.plist; do [ -f "$f" ] && "$1/usr/local/bin/launchctl" bootout system "$f"; done; true`, 'x', root(n)], { stdio: 'ignore' });
      }
      rmSync(work, { recursive: true, force: true });
    },
  };
}
