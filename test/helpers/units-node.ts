/**
 * A local node for launchd-unit tests (adversarial runs 6 and 7): a temp dir standing for a Mac's /, with the real
 * launchctl stand-in in its usr/local/bin, an empty LaunchDaemons, tenants/ and the clawops dir, and a user's
 * home/important/notes.txt to prove nothing outside the tree is touched. The node scripts run on it through the
 * local transport, as apply runs them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { NodePaths } from '../../reconciler/transport/transport.js';
import { installLaunchctl } from '../fleet/node-bin.js';

export interface UnitsNode {
  root: string;
  t: LocalTransport;
  p: NodePaths;
}

/** A plist whose job is a sleep (these tests are about the unit files, not the gateway); `tag` tells copies apart. */
export const plistOf = (label: string, tag = 'one'): string => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>${label}</string>
  <key>ProgramArguments</key><array><string>/bin/sh</string><string>-c</string><string>exec sleep 300</string><string>${tag}</string></array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
</dict></plist>
`;

/** A fresh node under a temp dir named `prefix…` (call in beforeEach). */
export function unitsNode(prefix: string): UnitsNode {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const t = new LocalTransport('local-1', root, 60_000);
  const p = t.paths({ etc: '/etc/openclaw', var_db: '/var/db/openclaw' });
  const bin = join(root, 'usr/local/bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(p.launchDaemons, { recursive: true });
  mkdirSync(join(p.etc, 'tenants'), { recursive: true });
  mkdirSync(join(p.varDb, 'clawops'), { recursive: true });
  installLaunchctl(bin, process.execPath);
  mkdirSync(join(root, 'home', 'important'), { recursive: true });
  writeFileSync(join(root, 'home', 'important', 'notes.txt'), 'USERDATA\n');
  return { root, t, p };
}

/** Boot out every label a test loaded, then remove the node (call in afterEach). */
export async function dropUnitsNode(n: UnitsNode, labels: Iterable<string>): Promise<void> {
  for (const l of new Set(labels)) await n.t.exec(`launchctl bootout system/${l} >/dev/null 2>&1; true`);
  rmSync(n.root, { recursive: true, force: true });
}
