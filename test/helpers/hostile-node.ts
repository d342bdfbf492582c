/**
 * The hostile one-node harness the adversarial fleet tests share (test/apply/*-attacks*.test.ts, operator-flows-4).
 *
 * A "hostile one-node harness" is one fleet node, gw-1 (a real sshd on loopback, the real OpenClaw CLI), started once
 * a describe block and wiped before each test, with its tenants' secrets seeded and (unless the block makes its own) a
 * committed repo assigning it those tenants. The tests then act behind clawops' back the way a hostile or messy node
 * would (links, FIFOs, hard links, mounts, odd names, user data planted under /home/clawops/important) and look from
 * the test host at what clawops did: where tenants/<t> points, what reload.log and the intent files hold, which error
 * lines the CLI printed, whether a shell was left blocked on the node.
 *
 *   const h = useHostileNode({ tenants: ['acme', 'globex'], userData: true });
 *   const { sh, apply, commit, idOf, important } = h;
 *   it('…', async () => { await sh('ln -s …'); const r = await apply(); expect(h.repo)… });
 *
 * `useHostileNode` registers the block's hooks and returns gw-1's state as getters (fleet, gw, repo, desired; a test
 * may set repo) with helper closures bound to it (plain arrow functions: destructure them freely).
 * The pure helpers first in this file take a directory (or a CLI run) instead, so the same attacks run against a local
 * node tree in a temp dir use them too; `useWrapperTree` is such a tree for the shipped gateway wrapper, and
 * `applyHooked` an in-process apply whose own connection runs the test's hooks around its renames and commands.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import type { ApplyEvent, NodeApplyResult, RunContext } from '../../reconciler/apply/apply-node.js';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import type { Transport } from '../../reconciler/transport/transport.js';
import { fleetAvailable, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { applyJson, NO_UNITS, useOneNodeFleet } from './fleet-cli.js';
import { commitEdits, desiredOf, fleetRepo, placeAll, portOffsetOf } from './fleet-repo.js';
import { applyAfter } from './node-state.js';
import { openclawCache } from './openclaw.js';
import { layRelease } from './release.js';
import { EXAMPLE, runCli, type CliRun, type Edit } from './repo.js';
import { seedSecrets } from './secrets.js';

// ==================================================================================================================
// pure helpers: a node's files seen from the test host (a fleet node's dirs, or a local tree's)
// ==================================================================================================================

/** one reload.log (or intent) record */
export type Rec = Record<string, unknown>;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** the fleet tests can run here: sshd namespaces available and the real OpenClaw CLI cached */
export const fleetReady = (): boolean => fleetAvailable().ok && openclawCache() !== undefined;

/** a fleetRepo assignment: gw-1 the canary gateway of `tenants` */
export const oneGateway = (tenants: readonly string[]): Record<string, { role: 'gateway'; canary: true; tenants: string[] }> => ({
  'gw-1': { role: 'gateway', canary: true, tenants: [...tenants] },
});

/** the shell the shipped wrapper is run with in the local-tree tests: dash where there is one (a strict POSIX sh), else sh */
const which = (tool: string): string => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
export const DASH = which('dash') || which('sh');

/** reload.log's records in the clawops dir `cdir` (NDJSON): [] while it is absent or not a regular file */
export function reloadLogIn(cdir: string): Rec[] {
  const f = join(cdir, 'reload.log');
  if (!existsSync(f) || !lstatSync(f).isFile()) return [];
  return readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Rec);
}

/** the intent.* files in the clawops dir `cdir` ([] while there is none) */
export const intentsIn = (cdir: string): string[] => (existsSync(cdir) ? readdirSync(cdir).filter((f) => f.startsWith('intent.')) : []);

/** the release id `etc`/tenants/`name` points at (its target's last component), undefined when it is no link */
export function linkIdIn(etc: string, name: string): string | undefined {
  try {
    return readlinkSync(join(etc, 'tenants', name)).split('/').pop();
  } catch {
    return undefined;
  }
}

/** point `etc`/tenants/`tenant` at ../releases/`tenant`/`id` (whatever was there removed first) */
export function pointTenant(etc: string, tenant: string, id: string): void {
  rmSync(join(etc, 'tenants', tenant), { force: true });
  symlinkSync(`../releases/${tenant}/${id}`, join(etc, 'tenants', tenant));
}

/** what a tenants/ dir holds: each entry's kind and link target (mtimes aside: a rename over a link changes none of these) */
export const linksIn = (tenantsDir: string): string[] =>
  readdirSync(tenantsDir).sort().map((n) => {
    const st = lstatSync(join(tenantsDir, n));
    return st.isSymbolicLink() ? `${n} -> ${readlinkSync(join(tenantsDir, n))}` : `${n} ${st.isDirectory() ? 'dir' : 'file'}`;
  });

/** the error lines the CLI printed (not its pino progress lines) */
export const errLines = (r: CliRun): string[] => r.stderr.split('\n').filter((l) => l.startsWith('clawops:'));

/** gw-1's result in an apply's results */
export const only = (r: { results: NodeApplyResult[] }): NodeApplyResult => r.results.find((x) => x.node === 'gw-1')!;

export type TreeEntry = { kind: 'file' | 'dir' | 'link' | 'other'; mode: number };

/** every entry under root (not following links): relative path → kind */
export function walkTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const go = (rel: string): void => {
    for (const n of readdirSync(rel === '' ? root : join(root, rel))) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = lstatSync(join(root, r));
      const kind = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      out.set(r, { kind, mode: st.mode & 0o7777 });
      if (kind === 'dir') go(r);
    }
  };
  go('');
  return out;
}

/** acme's tree on a node for its shipped wrapper (bin/gateway-run) to run on, in a temp dir of its own */
export interface WrapperTree {
  readonly root: string;
  /** root/etc: acme's release laid at tenants/acme */
  readonly etc: string;
  /** root/var: acme's two secrets under secrets/acme (0600), an empty clawops/ */
  readonly varDb: string;
  /** root/out: where the fake openclaw writes what it was given */
  readonly out: string;
  /** root/openclaw-fake (0755): the wrapper's openclaw */
  readonly fake: string;
  /** etc/tenants/acme/bin/gateway-run */
  readonly script: () => string;
}

/**
 * Before each test, a new WrapperTree (a temp dir named `prefix`…) holding tenants-example's acme release and secrets,
 * with `fakeScript` as the openclaw the wrapper runs; removed after the test.
 */
export function useWrapperTree(prefix: string, fakeScript: string): WrapperTree {
  const example: DesiredState = buildDesired(readTreeSync(EXAMPLE));
  let tree: Omit<WrapperTree, 'script'> | undefined;
  const t = (): Omit<WrapperTree, 'script'> => {
    if (tree === undefined) throw new Error('no wrapper tree outside a test');
    return tree;
  };
  beforeEach(() => {
    const root = mkdtempSync(join(tmpdir(), prefix));
    const etc = join(root, 'etc');
    const varDb = join(root, 'var');
    layRelease(etc, example, 'acme');
    mkdirSync(join(varDb, 'secrets', 'acme'), { recursive: true, mode: 0o700 });
    for (const [n, v] of [['token.current', 'tok_current_value_123456'], ['hooks.token', 'hk_hooks_value_123456']] as const) {
      writeFileSync(join(varDb, 'secrets', 'acme', n), `${v}\n`);
      chmodSync(join(varDb, 'secrets', 'acme', n), 0o600);
    }
    mkdirSync(join(varDb, 'clawops'), { recursive: true });
    const out = join(root, 'out');
    mkdirSync(out);
    const fake = join(root, 'openclaw-fake');
    writeFileSync(fake, fakeScript, { mode: 0o755 });
    tree = { root, etc, varDb, out, fake };
  });
  afterEach(() => rmSync(t().root, { recursive: true, force: true }));
  return {
    get root(): string {
      return t().root;
    },
    get etc(): string {
      return t().etc;
    },
    get varDb(): string {
      return t().varDb;
    },
    get out(): string {
      return t().out;
    },
    get fake(): string {
      return t().fake;
    },
    script: () => join(t().etc, 'tenants', 'acme', 'bin', 'gateway-run'),
  };
}

// ==================================================================================================================
// a run with the node's transport hooked
// ==================================================================================================================

/** what to run (awaited) around a run's own SFTP renames and symlinks, and before each command it sends */
export interface TransportHooks {
  onRename?: (from: string, to: string) => Promise<void>;
  afterRename?: (from: string, to: string) => Promise<void>;
  onSymlink?: (target: string, path: string) => Promise<void>;
  onExec?: (command: string) => Promise<void>;
}

export interface HookedRun {
  results: NodeApplyResult[];
  events: ApplyEvent[];
  run: string;
}

/** wrap `t` so that `hooks` run: onRename before and afterRename after each SFTP rename, onSymlink before each symlink, onExec before each command */
export function hookTransport(t: Transport, hooks: TransportHooks): void {
  if (hooks.onRename || hooks.afterRename) {
    const orig = t.files.rename.bind(t.files);
    (t.files as { rename: (a: string, b: string) => Promise<void> }).rename = async (a: string, b: string) => {
      await hooks.onRename?.(a, b);
      await orig(a, b);
      await hooks.afterRename?.(a, b);
    };
  }
  if (hooks.onExec) {
    const onExec = hooks.onExec;
    const origExec = t.exec.bind(t);
    (t as { exec: Transport['exec'] }).exec = async (command, o) => {
      await onExec(command);
      return origExec(command, o);
    };
  }
  if (hooks.onSymlink) {
    const onSymlink = hooks.onSymlink;
    const origLink = t.files.symlink.bind(t.files);
    (t.files as { symlink: (a: string, b: string) => Promise<void> }).symlink = async (a: string, b: string) => {
      await onSymlink(a, b);
      await origLink(a, b);
    };
  }
}

/**
 * Plan, then apply in-process to `opts.node` with the run's own connection hooked (hookTransport). The run id is
 * `<tag><hex time>` and the actor `test@<tag>` unless `ctx` says otherwise.
 */
export async function applyHooked(opts: { repo: string; identity: string; node: string; tag: string }, hooks: TransportHooks, ctx: Partial<RunContext> = {}): Promise<HookedRun> {
  const wrap = (transports: ReadonlyMap<string, Transport>): void => hookTransport(transports.get(opts.node) as Transport, hooks);
  const res = await applyAfter({ repo: opts.repo, identity: opts.identity, nodes: [opts.node], wrap }, async () => undefined, { run: ctx.run ?? `${opts.tag}${Date.now().toString(16)}`, actor: `test@${opts.tag}`, ...ctx });
  return { results: res.results, events: res.events, run: res.run };
}

// ==================================================================================================================
// the harness
// ==================================================================================================================

/**
 * The hostile reset: nothing of clawops, no release, no logs, no secrets, no user data on gw-1; an empty clawops dir
 * (write bits given back first: a test may have taken them).
 */
export const HOSTILE_RESET =
  'chmod -R u+w /etc/openclaw /var/db/openclaw /home/clawops 2>/dev/null; rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops /var/db/openclaw/logs /var/db/openclaw/secrets/* /home/clawops/important*; mkdir -p /var/db/openclaw/clawops; true';

/** the reset of the blocks whose repo has launchd units: every unit booted out and removed, no release, no clawops state, no secrets */
export const UNITS_RESET =
  'for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; chmod -R u+w /var/db/openclaw 2>/dev/null; rm -rf /etc/openclaw/* /var/db/openclaw/clawops /var/db/openclaw/secrets/*; true';

export interface HostileNodeOptions {
  /** gw-1's tenants: their secrets are seeded before each test, and the block's repo assigns them to gw-1 (a canary gateway) */
  tenants: readonly string[];
  /** run on gw-1 (as its user, started again first if a test stopped it) before each test; HOSTILE_RESET by default */
  reset?: string;
  /**
   * the repo each test starts from: 'placed' (the default) tenants-example without launchd units (NO_UNITS), every
   * release laid on gw-1 as apply lays it (a node in sync); 'units' with the units, nothing on the node (no desired
   * state kept: the test reads the repo); 'none' the test makes its own
   */
  repo?: 'placed' | 'units' | 'none';
  /** plant /home/clawops/important/notes.txt (USERDATA) before each test: the user's files clawops must never touch */
  userData?: boolean;
  /** applyHooked's run id prefix and actor (test@TAG): 'probe' by default */
  runTag?: string;
}

/** the placed release of a tenant against the desired one: extra entries, links, wrong bytes, missing files */
export interface ReleaseDiff {
  extra: string[];
  links: string[];
  wrong: string[];
  missing: string[];
}

export interface HostileNode {
  readonly fleet: Fleet;
  readonly gw: FleetNodeHandle;
  /** the test's repo (set before each test per `repo`; a test may set another) */
  repo: string;
  /** the repo's desired state, kept up to date by commit and placeRepo */
  readonly desired: DesiredState;
  readonly key: () => string;
  /** `clawops apply --yes --json ARGS…` against the repo */
  readonly apply: (...args: string[]) => ReturnType<typeof applyJson>;
  /** `clawops diff --node gw-1 ARGS…` against the repo */
  readonly diff: (...args: string[]) => Promise<CliRun>;
  /** commit `edits` to the repo, and keep its desired state */
  readonly commit: (edits: Record<string, Edit>, msg?: string) => void;
  /** the desired release id of tenant `t` */
  readonly idOf: (t: string) => string;
  /** a fresh repo assigning gw-1 the block's tenants, tenants-example with `edits`, its releases laid on gw-1 */
  readonly placeRepo: (edits: Record<string, Edit>) => void;
  /** run `cmd` on gw-1, expecting exit 0; its stdout */
  readonly sh: (cmd: string) => Promise<string>;
  /** how many processes on gw-1 run `prog…` (a shell or a hash left blocked on a FIFO), as ps and grep -c print it */
  readonly stuck: (prog?: string) => Promise<string>;
  /** a path under /var/db/openclaw/clawops, /etc/openclaw/tenants, /etc/openclaw/releases, /home/clawops/important (host side) */
  readonly cdir: (...p: string[]) => string;
  readonly tenantsDir: (...p: string[]) => string;
  readonly rel: (...p: string[]) => string;
  readonly important: (...p: string[]) => string;
  readonly linkId: (name: string) => string | undefined;
  readonly links: () => string[];
  readonly reloadLog: () => Rec[];
  readonly intents: () => string[];
  /** clawops.yaml with command_timeout_ms 5000 (a run that would block on the node gives up at once) */
  readonly shortTimeout: () => Record<string, string>;
  readonly releaseDiff: (t: string) => ReleaseDiff;
  /** listen on `port` + gw-1's port offset, closing each connection at once (a gateway's port taken: its gate fails) */
  readonly blockPort: (port: number) => Server;
  /** applyHooked against gw-1 with the repo */
  readonly applyHooked: (hooks: TransportHooks, ctx?: Partial<RunContext>) => Promise<HookedRun>;
}

/** gw-1, hostile: started for the describe block, reset before each test (see HostileNodeOptions); its state and helpers */
export function useHostileNode(opts: HostileNodeOptions): HostileNode {
  const one = useOneNodeFleet(opts.reset ?? HOSTILE_RESET);
  const assign = oneGateway(opts.tenants);
  const mode = opts.repo ?? 'placed';
  let repo: string | undefined;
  let desired: DesiredState | undefined;

  const gw = (): FleetNodeHandle => one.gw;
  const theRepo = (): string => {
    if (repo === undefined) throw new Error('gw-1: no repo yet (this block makes its own: set h.repo)');
    return repo;
  };
  const theDesired = (): DesiredState => {
    if (desired === undefined) throw new Error('gw-1: no desired state kept (a repo of its own: commit or placeRepo first)');
    return desired;
  };
  const key = (): string => one.fleet.clientKeyPath;
  const cdir = (...p: string[]): string => join(gw().varDbOpenclaw, 'clawops', ...p);
  const tenantsDir = (...p: string[]): string => join(gw().etcOpenclaw, 'tenants', ...p);
  const rel = (...p: string[]): string => join(gw().etcOpenclaw, 'releases', ...p);
  const sh = async (cmd: string): Promise<string> => {
    const r = await gw().exec(cmd);
    expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const placeRepo = (edits: Record<string, Edit>): void => {
    repo = fleetRepo(one.fleet, edits, assign);
    desired = desiredOf(repo);
    placeAll(one.fleet, desired);
  };

  beforeEach(async () => {
    await seedSecrets(gw(), opts.tenants);
    if (mode === 'placed') placeRepo(NO_UNITS);
    else if (mode === 'units') {
      repo = fleetRepo(one.fleet, {}, assign);
      desired = undefined;
    }
    if (opts.userData) await sh('mkdir -p /home/clawops/important && echo USERDATA > /home/clawops/important/notes.txt');
  });

  return {
    get fleet(): Fleet {
      return one.fleet;
    },
    get gw(): FleetNodeHandle {
      return one.gw;
    },
    get repo(): string {
      return theRepo();
    },
    set repo(r: string) {
      repo = r;
    },
    get desired(): DesiredState {
      return theDesired();
    },
    key,
    apply: (...args) => applyJson(theRepo(), key(), ...args),
    diff: (...args) => runCli(['diff', '--repo', theRepo(), '--identity', key(), '--node', 'gw-1', ...args]),
    commit: (edits, msg = 'change') => {
      commitEdits(theRepo(), edits, msg);
      desired = desiredOf(theRepo());
    },
    idOf: (t) => theDesired().tenants.get(t)!.releaseId,
    placeRepo,
    sh,
    stuck: async (prog = 'sh -c') => (await gw().exec(`ps -eo args | grep -c "^${prog}" || true`)).stdout.trim(),
    cdir,
    tenantsDir,
    rel,
    important: (...p) => join(gw().homeDir, 'important', ...p),
    linkId: (name) => linkIdIn(gw().etcOpenclaw, name),
    links: () => linksIn(tenantsDir()),
    reloadLog: () => reloadLogIn(cdir()),
    intents: () => intentsIn(cdir()),
    shortTimeout: () => ({ 'clawops.yaml': readFileSync(join(theRepo(), 'clawops.yaml'), 'utf8').replace(/command_timeout_ms: \d+/, 'command_timeout_ms: 5000') }),
    releaseDiff: (t) => {
      const d = theDesired().tenants.get(t)!;
      const got = walkTree(rel(t, d.releaseId));
      const want = new Map(d.files.map((f) => [f.path, f.content]));
      const res: ReleaseDiff = { extra: [], links: [], wrong: [], missing: [] };
      for (const [p, e] of got) {
        if (e.kind === 'link') res.links.push(p);
        if (e.kind === 'dir' || p === MANIFEST_PATH || p === 'openclaw.json.last-good') continue;
        if (!want.has(p)) res.extra.push(p);
        else if (e.kind === 'file' && !readFileSync(rel(t, d.releaseId, p)).equals(want.get(p)!)) res.wrong.push(p);
      }
      for (const p of want.keys()) if (!got.has(p)) res.missing.push(p);
      return res;
    },
    blockPort: (port) => createServer((s) => s.destroy()).listen(port + portOffsetOf(gw()), '127.0.0.1'),
    applyHooked: (hooks, ctx = {}) => applyHooked({ repo: theRepo(), identity: key(), node: 'gw-1', tag: opts.runTag ?? 'probe' }, hooks, ctx),
  };
}
