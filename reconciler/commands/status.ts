/**
 * `clawops status`: what on-call reads first — the fleet worst first, grouped in triage order, with the reason, since
 * when, what runs against what is wanted, and the next step. Registered lazily by reconciler/cli.ts.
 *
 * Three sources, one model (report/status-model.ts):
 *   --controller URL  a running controller's listener: GET <URL>/status
 *   --state-dir DIR   a controller's state dir: its status.json (the controller need not run)
 *   --repo R          a one-off observe, as `clawops diff` does (ssh to every node), mapped to the same model
 * Exit 0 when every node is Synced and healthy and nothing is wrong with the controller, 1 otherwise, 2 on an error
 * (one line naming the state dir, the URL or the file).
 */
import { Command, Option } from 'commander';
import { stat } from 'node:fs/promises';
import { EXIT_CHANGES, EXIT_OK, IoError, oneLine, UsageError } from '../errors.js';
import { MAX_STATE_BYTES } from '../bounded-read.js';
import { redactUrl } from '../safe-text.js';
import type { CliIo, SetExit } from './io.js';
import type { StatusDoc } from '../controller/status.js';
import type { NoteView, StatusView } from '../report/status-model.js';

export interface StatusFlags {
  controller?: string;
  stateDir?: string;
  repo?: string;
  ref?: string;
  node?: string[];
  json?: boolean;
  identity?: string;
  knownHosts?: string;
  concurrency?: string;
  timeout: string;
}

export const STATUS_DESCRIPTION = 'the fleet worst first, in triage order, with reasons and next steps (exit 0 all Synced and healthy, 1 otherwise, 2 error)';

/** `http://host:port[/prefix]` → the URL of its /status. */
export function statusUrl(base: string): URL {
  let u: URL;
  // (every message shows the value with its credentials replaced: the password of a URL is never printed)
  const shown = redactUrl(base);
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(base) ? base : `http://${base}`);
  } catch {
    throw new UsageError(`--controller ${shown}: not a URL (want http://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--controller ${shown}: want an http:// or https:// URL`);
  if (u.username !== '' || u.password !== '') throw new UsageError(`--controller ${shown}: credentials in the URL are not sent (the controller's /status takes none)`);
  if (!u.pathname.endsWith('/status')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/status`;
  u.search = '';
  u.hash = '';
  return u;
}

/** GET <controller>/status, checked as the store is (a newer schema is refused, an older one migrated). */
export async function fetchStatus(given: string, timeoutMs: number): Promise<StatusDoc> {
  const url = statusUrl(given);
  const base = redactUrl(given);
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer in ${timeoutMs / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new IoError(`--controller ${base}: unreachable (${redactUrl(why)})`);
  }
  if (res.status !== 200) throw new IoError(`--controller ${base}: ${url.href} answered HTTP ${res.status} (is it a clawops controller's --listen?)`);
  const tooLarge = (n: number | string): IoError => new IoError(`--controller ${base}: ${url.href} answered ${n} bytes, more than a status may hold (${MAX_STATE_BYTES}); never read`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_STATE_BYTES) {
    void res.body?.cancel().catch(() => undefined);
    throw tooLarge(declared);
  }
  // the body read under the same bound and deadline: a listener that trickles or sends without end is cut off
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const c of res.body ?? []) {
      size += c.byteLength;
      if (size > MAX_STATE_BYTES) {
        void res.body?.cancel().catch(() => undefined);
        throw tooLarge(`over ${MAX_STATE_BYTES}`);
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof IoError) throw e;
    const err = e as Error;
    const why = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer in ${timeoutMs / 1000} s (the status was still coming)` : `the answer broke off (${err.message})`;
    throw new IoError(`--controller ${base}: ${url.href}: ${why}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new IoError(`--controller ${base}: ${url.href} did not answer JSON (is it a clawops controller's --listen?)`);
  }
  const { parseStatus } = await import('../controller/store.js');
  const doc = parseStatus(url.href, raw);
  if (!doc) throw new IoError(`--controller ${base}: ${url.href} returned no status`);
  return doc;
}

/** The state dir's status.json; a missing or unreadable dir or file is one line naming it. */
export async function readStateDir(dir: string): Promise<StatusDoc> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new IoError(`--state-dir ${dir}: not a directory`);
  } catch (e) {
    if (e instanceof IoError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new IoError(`--state-dir ${dir}: ${code === 'ENOENT' ? 'no such directory' : `cannot read (${code ?? oneLine(e)})`}`);
  }
  const { readStatus, statusPath } = await import('../controller/store.js');
  let doc: StatusDoc | undefined;
  try {
    doc = await readStatus(dir);
  } catch (e) {
    const m = oneLine(e);
    // readStateFile's "state <file>: EACCES: …" → name the flag; version refusals already name the file
    throw new IoError(m.startsWith('state ') ? `--state-dir ${dir}: cannot read ${statusPath(dir)}: ${m.replace(/^state \S+: /, '')}` : m);
  }
  if (!doc) throw new IoError(`--state-dir ${dir}: no ${statusPath(dir)} (has a controller run with this state dir?)`);
  return doc;
}

function checkNodes(doc: StatusDoc, nodes: readonly string[] | undefined): void {
  if (!nodes?.length) return;
  const unknown = nodes.filter((n) => !Object.hasOwn(doc.nodes, n));
  if (unknown.length > 0) throw new UsageError(`--node ${unknown.join(', ')}: no status for it (known: ${Object.keys(doc.nodes).sort().join(', ') || 'none'})`);
}

async function loadView(flags: StatusFlags, now: () => Date): Promise<StatusView> {
  const { buildStatusView } = await import('../report/status-model.js');
  const timeoutMs = Number(flags.timeout) * 1000;
  if (!(timeoutMs >= 1000 && timeoutMs <= 600_000)) throw new UsageError(`--timeout ${flags.timeout}: want seconds, 1 to 600`);
  if (flags.controller !== undefined) {
    const doc = await fetchStatus(flags.controller, timeoutMs);
    checkNodes(doc, flags.node);
    return buildStatusView(doc, { now: now(), from: { kind: 'controller', where: statusUrl(flags.controller).origin }, ...(flags.node?.length ? { nodes: flags.node } : {}) });
  }
  if (flags.stateDir !== undefined) {
    const doc = await readStateDir(flags.stateDir);
    checkNodes(doc, flags.node);
    return buildStatusView(doc, { now: now(), from: { kind: 'state-dir', where: flags.stateDir }, ...(flags.node?.length ? { nodes: flags.node } : {}) });
  }
  // a one-off observe: diff's front half, mapped to a status by the controller's own derivation
  const [{ observeAndPlan }, { statusFromPlan }] = await Promise.all([import('./diff.js'), import('../report/plan-status.js')]);
  const r = await observeAndPlan({ repo: flags.repo!, ...(flags.ref ? { ref: flags.ref } : {}), ...(flags.node ? { node: flags.node } : {}), ...(flags.identity ? { identity: flags.identity } : {}), ...(flags.knownHosts ? { knownHosts: flags.knownHosts } : {}), ...(flags.concurrency ? { concurrency: flags.concurrency } : {}) }, { prune: false }, false);
  try {
    const at = now();
    const { doc, notes } = statusFromPlan({ source: r.meta.source, desired: r.desired, nodes: r.nodes, results: r.fleet.results, plan: r.plan }, at);
    const s = r.meta.source;
    const where = `${s.origin}${s.ref ? ` ref ${s.ref}` : ''}${s.commit ? ` @ ${s.commit.slice(0, 12)}` : ''}${s.dirty ? ' (uncommitted changes)' : ''}`;
    return buildStatusView(doc, { now: at, from: { kind: 'observe', where }, notes: notes as Map<string, NoteView[]>, openclaw: r.desired.lock.openclaw.version });
  } finally {
    r.source.cleanup();
  }
}

export function statusCommand(io: CliIo, setExit: SetExit, now: () => Date = () => new Date()): Command {
  return new Command('status')
    .description(STATUS_DESCRIPTION)
    .option('--controller <url>', "a running controller's listener (its --listen), e.g. http://127.0.0.1:8440")
    .option('--state-dir <dir>', "a controller's state dir (reads its status.json)")
    .option('--repo <path|url>', 'observe the fleet once, as clawops diff does (no controller needed)')
    .option('--ref <ref>', 'with --repo: the branch, tag or commit to compare with')
    .option('--node <name...>', 'only these nodes (repeatable)')
    .option('--json', 'the status model as JSON (field names in specs/status.md)')
    .option('--identity <file>', 'with --repo: ssh private key (default $CLAWOPS_SSH_IDENTITY, then ~/.ssh/id_ed25519)')
    .option('--known-hosts <file>', 'with --repo: known_hosts for nodes without a pinned host_key')
    .addOption(new Option('--concurrency <n>', 'with --repo: nodes observed at once').argParser((v) => v))
    .option('--timeout <seconds>', 'with --controller: how long to wait for it', '10')
    .action(async (flags: StatusFlags) => {
      const sources = (['controller', 'stateDir', 'repo'] as const).filter((k) => flags[k] !== undefined);
      if (sources.length === 0) throw new UsageError('where is the status? give --controller URL, --state-dir DIR or --repo R');
      if (sources.length > 1) throw new UsageError('give one of --controller, --state-dir and --repo');
      if (flags.repo === undefined) {
        const repoOnly = ([['--ref', flags.ref], ['--identity', flags.identity], ['--known-hosts', flags.knownHosts], ['--concurrency', flags.concurrency]] as const).find(([, v]) => v !== undefined);
        if (repoOnly) throw new UsageError(`${repoOnly[0]} goes with --repo`);
      }
      const view = await loadView(flags, now);
      const { renderStatusJson, renderStatusText } = await import('../report/status-text.js');
      io.stdout(flags.json ? renderStatusJson(view) : renderStatusText(view));
      setExit(view.ok ? EXIT_OK : EXIT_CHANGES);
    });
}
