/**
 * A node as a root-prefix directory on this machine (specs/on-node-layout.md under <root>/), with a fake
 * `openclaw` and `launchctl` in <root>/usr/local/bin, for the real observe script run through the LocalTransport.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredState } from '../../reconciler/desired/types.js';
import type { ExecOptions, ExecResult } from '../../reconciler/transport/transport.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import { layRelease } from '../helpers/release.js';

export interface LocalNode {
  root: string;
  etc: string;
  varDb: string;
  bin: string;
  /** the file `openclaw` resolves to (through a relative symlink, like an npm global install) */
  daemon: string;
  /** how many times the fake `openclaw` was run */
  openclawRuns(): number;
  /** make `launchctl print system` list the service running (and `print system/<label>` print it; else exit 113) */
  setRunning(tenant: string, running: boolean): void;
  remove(): void;
}

export function makeLocalNode(opts: { versionLine?: string } = {}): LocalNode {
  const root = mkdtempSync(join(tmpdir(), 'clawops-localnode-'));
  const etc = join(root, 'etc/openclaw');
  const varDb = join(root, 'var/db/openclaw');
  const bin = join(root, 'usr/local/bin');
  const pkg = join(root, 'usr/local/lib/node_modules/openclaw');
  const daemon = join(pkg, 'openclaw.mjs');
  const runs = join(root, 'openclaw-runs');
  const launchd = join(root, 'launchd-running');
  mkdirSync(bin, { recursive: true });
  mkdirSync(pkg, { recursive: true });
  mkdirSync(launchd, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"name":"openclaw","version":"2026.9.6"}\n');
  const line = opts.versionLine ?? 'OpenClaw 2026.9.6 (eb377ac)';
  writeFileSync(daemon, `#!/bin/sh\n# fake openclaw\necho x >> '${runs}'\necho '${line}'\necho 'second line is ignored'\n`, { mode: 0o755 });
  symlinkSync('../lib/node_modules/openclaw/openclaw.mjs', join(bin, 'openclaw'));
  // `launchctl print system/<label>` in the macOS format; exit 113 for a service that is not loaded
  writeFileSync(
    join(bin, 'launchctl'),
    `#!/bin/sh
[ "$1" = print ] || { echo "Unrecognized subcommand: $1" >&2; exit 1; }
if [ "$2" = system ]; then
  # the system domain, with its services block: pid, last exit status, label
  printf 'system = {\n\ttype = system\n\thandle = 0\n\n\tservices = {\n'
  printf '\t\t%8s %8s \t%s\n' 0 - com.apple.unrelated
  for f in '${launchd}'/*; do [ -f "$f" ] && printf '\t\t%8s %8s \t%s\n' 4242 - "$(basename "$f")"; done
  printf '\t}\n}\n'
  exit 0
fi
label=\${2#system/}
if [ ! -f '${launchd}'/"$label" ]; then echo "Could not find service \\"$label\\" in domain for system"; exit 113; fi
printf 'system/%s = {\\n\\tactive count = 1\\n\\tpath = /Library/LaunchDaemons/%s.plist\\n\\ttype = LaunchDaemon\\n\\tstate = running\\n\\n\\tprogram = /usr/local/bin/openclaw\\n\\targuments = {\\n\\t\\t/usr/local/bin/openclaw\\n\\t\\tgateway\\n\\t}\\n\\n\\tenvironment = {\\n\\t\\tXPC_SERVICE_NAME => %s\\n\\t}\\n\\n\\tdomain = system\\n\\truns = 1\\n\\tpid = 4242\\n\\tlast exit code = (never exited)\\n}\\n' "$label" "$label" "$label"
`,
    { mode: 0o755 },
  );
  return {
    root,
    etc,
    varDb,
    bin,
    daemon,
    openclawRuns: () => {
      try {
        return readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    },
    setRunning: (tenant, running) => {
      const f = join(launchd, `ai.openclaw.${tenant}`);
      if (running) writeFileSync(f, '');
      else rmSync(f, { force: true });
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Lay a tenant's desired release out under <root>/etc/openclaw the way apply does, and point the link at it. */
export function placeLocalRelease(node: LocalNode, desired: DesiredState, tenant: string): string {
  return layRelease(node.etc, desired, tenant, { commit: 'c0ffee' }).rel;
}

export function writeToken(node: LocalNode, tenant: string, name: string, content: string, mode = 0o600): string {
  const dir = join(node.varDb, 'secrets', tenant);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = join(dir, name);
  writeFileSync(f, content);
  chmodSync(f, mode);
  return f;
}

/** A LocalTransport that keeps what each command printed, so tests can check raw output too. */
export class RecordingTransport extends LocalTransport {
  readonly outputs: ExecResult[] = [];
  constructor(node: string, root: string) {
    super(node, root, 10_000);
  }
  override async exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    const r = await super.exec(command, opts);
    this.outputs.push(r);
    return r;
  }
}
