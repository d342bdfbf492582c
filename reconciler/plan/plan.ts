/**
 * plan(desired, observed) → Plan. Pure: pairs what git says with what each node has and returns data; never I/O.
 */
import { pendingRecords } from './intent-records.js';
import { notifierUnitFor } from '../desired/build-desired.js';
import { secretEnvVar } from '../desired/render.js';
import type { DesiredState, NodeSpec, TenantDesired } from '../desired/types.js';
import type { NodeObservation, ObserveResult, TenantObservation } from '../observe/types.js';
import { isManifest, manifestVouchesFor, MANIFEST_PATH } from '../release-manifest.js';
import { describeMismatch, lockMismatches } from '../version-gate.js';
import { metadataOnly, unifiedDiff, type UnifiedDiffOptions } from './file-diff.js';
import { redactNodeText } from './redact.js';
import { STATUS_ORDER, type Action, type FileDiff, type Issue, type NodePlan, type NodeStatus, type Plan, type TenantPlan } from './types.js';

export interface PlanOptions {
  /** plan removal of tenants a node has but the repo no longer assigns */
  prune?: boolean;
  revision?: string;
  /** free disk below this many KiB on a node is a probe warning */
  lowDiskKb?: number;
  /** plan releases a node quarantined after an automatic rollback (apply --retry-quarantined) */
  retryQuarantined?: boolean;
}

/**
 * Files the running gateway writes beside its config (seen from OpenClaw 2026.9.6: after a successful config reload it
 * keeps `openclaw.json.last-good` next to openclaw.json). They are not drift and never a reason to restage.
 */
export const RUNTIME_ARTEFACTS: ReadonlySet<string> = new Set(['openclaw.json.last-good']);

/** Files of the current release that differ from what clawops wrote there (its manifest). */
export function driftedFiles(t: TenantObservation): { path: string; what: string }[] {
  if (!t.current) return [];
  if (!isManifest(t.manifest)) {
    const why = t.manifest ? `release manifest is ${t.manifest.invalid}` : Object.keys(t.files).length === 0 ? 'current link does not resolve to a release' : 'release has no clawops manifest';
    return [{ path: MANIFEST_PATH, what: why }];
  }
  const out: { path: string; what: string }[] = [];
  // for…in over own keys, not Object.entries/keys: this runs for every tenant of every node on every pass, and the
  // arrays those make were the planner's largest garbage (scale-bench allocation profile)
  const listed = t.manifest.files;
  for (const path in listed) {
    if (!Object.hasOwn(listed, path)) continue;
    const have = Object.hasOwn(t.files, path) ? t.files[path] : undefined;
    if (have === undefined) out.push({ path, what: 'deleted on the node' });
    else if (have === 'symlink') out.push({ path, what: 'replaced by a symlink on the node' });
    else if (have !== listed[path]) out.push({ path, what: 'hand-edited on the node' });
  }
  for (const path in t.files) {
    if (Object.hasOwn(t.files, path) && path !== MANIFEST_PATH && !RUNTIME_ARTEFACTS.has(path) && !Object.hasOwn(listed, path)) out.push({ path, what: 'added on the node' });
  }
  for (const path of t.unsafeNames) out.push({ path, what: 'added on the node (a name with characters clawops never writes; shown with ? for tab/newline)' });
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Per plan(): the paths of each tenant's desired release, and the patches already made. Nodes that differ from the
 * repo the same way (a rollout, tenants not deployed yet) get the same patch, made once: same label, same old bytes,
 * same new file, same redaction (the node's secret fingerprints) — unifiedDiff is pure, so the text is identical.
 */
interface PlanMemo {
  paths: Map<TenantDesired, ReadonlySet<string>>;
  patches: Map<string, { old: Buffer | undefined; patch: string }>;
}

function desiredDiff(memo: PlanMemo, label: string, old: Buffer | undefined, f: TenantDesired['files'][number], redact: UnifiedDiffOptions): string {
  const key = `${label}\0${f.sha256}\0${old === undefined ? '-' : old.length}\0${(redact.fingerprints ?? []).join(',')}`;
  const hit = memo.patches.get(key);
  if (hit && (hit.old === undefined ? old === undefined : old !== undefined && hit.old.equals(old))) return hit.patch;
  const patch = unifiedDiff(label, old, f.content, redact);
  if (!hit) memo.patches.set(key, { old, patch });
  return patch;
}

function fileDiffs(d: TenantDesired, t: TenantObservation | undefined, redact: UnifiedDiffOptions, memo: PlanMemo): FileDiff[] {
  const have = t?.files ?? {};
  const out: FileDiff[] = [];
  let want = memo.paths.get(d);
  if (!want) memo.paths.set(d, (want = new Set(d.files.map((f) => f.path))));
  const label = (p: string): string => `${d.id}/${p}`;
  for (const f of d.files) {
    const h = have[f.path];
    if (h === f.sha256) continue;
    const old = t?.contents[f.path];
    const change = h === undefined ? 'added' : 'modified';
    // modified without its old content: what observe would not send (not clawops' own bytes, e.g. a hard link: size
    // and hash only) or could not (over 256 KiB)
    const size = t !== undefined && Object.hasOwn(t.sizes, f.path) ? t.sizes[f.path] : undefined;
    const patch = change === 'modified' && !old ? (size !== undefined ? metadataOnly(label(f.path), size, h ?? '') : '') : desiredDiff(memo, label(f.path), change === 'added' ? undefined : old, f, redact);
    out.push({ tenant: d.id, path: f.path, change, patch });
  }
  // the current release's manifest is the one clawops wrote when its file list hashes to the release's id (an entry
  // added on the node does not); asked once a tenant, and only when a file it lists is left over
  const m = t && isManifest(t.manifest) ? t.manifest : undefined;
  let vouched: boolean | undefined;
  const vouches = (): boolean => (vouched ??= m !== undefined && t?.current?.releaseId !== undefined && manifestVouchesFor(m, t.current.releaseId));
  // default deny: a file clawops did not write is shown by name, size and hash, never its content
  for (const path in have) {
    if (!Object.hasOwn(have, path) || want.has(path) || path === MANIFEST_PATH || RUNTIME_ARTEFACTS.has(path)) continue;
    // clawops wrote it when that manifest lists it with exactly these bytes
    const mine = t !== undefined && m !== undefined && Object.hasOwn(m.files, path) && m.files[path] === have[path] && vouches();
    const old = mine ? t.contents[path] : undefined;
    out.push({ tenant: d.id, path, change: 'removed', patch: old ? unifiedDiff(label(path), old, undefined, redact) : metadataOnly(label(path), t?.sizes[path], have[path] ?? '') });
  }
  for (const path of t?.unsafeNames ?? []) out.push({ tenant: d.id, path, change: 'removed', patch: metadataOnly(label(path), undefined, '') });
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function versionIssues(node: NodeSpec, o: NodeObservation, desired: DesiredState): Issue[] {
  const base = { category: 'version-skew' as const, severity: 'error' as const, node: node.name, difference: true };
  return lockMismatches(desired.lock, { ...o.openclaw, ...(o.daemon ? { daemon: o.daemon } : {}) }).map((m) => ({
    ...base,
    reason: m.reason,
    message: describeMismatch(desired.lock, m, { lockName: 'the lock', where: 'on PATH' }),
  }));
}

/** The secrets the gateway itself needs: named in its openclaw.json (a file SecretRef path or a ${CLAWOPS_SECRET_*}). */
export function gatewaySecrets(d: TenantDesired): string[] {
  const text = JSON.stringify(d.openclaw);
  return d.secretRefs.filter((n) => text.includes(`\${${secretEnvVar(n)}}`) || text.includes(`/secrets/${d.id}/${n}"`));
}

/**
 * Every secret file the gateway's config references must be there, non-empty and 0600/0400, or the gateway will not start
 * (the wrapper refuses it): each problem blocks apply for that tenant.
 */
export function secretProblems(d: TenantDesired, t: TenantObservation | undefined, referenced: readonly string[] = gatewaySecrets(d)): { name: string; reason: 'SecretMissing' | 'SecretMode'; message: string }[] {
  if (!t) return [];
  const out: { name: string; reason: 'SecretMissing' | 'SecretMode'; message: string }[] = [];
  for (const name of referenced) {
    const m = name === 'token.current' || name === 'token.next' ? t.tokens[name] : Object.hasOwn(t.secrets, name) ? t.secrets[name] : undefined;
    if (m?.link) out.push({ name, reason: 'SecretMode', message: `${linkedSecret(d.id, `secret file secrets/${d.id}/${name}`, m.link)}: never followed; the gateway would not start until it is a regular file in a real dir (apply refuses ${d.id})` });
    else if (!m || !m.present) out.push({ name, reason: 'SecretMissing', message: `secret file ${name} is missing on the node; the gateway would not start (apply refuses ${d.id} until it is provisioned)` });
    else if (m.mode !== '600' && m.mode !== '400') out.push({ name, reason: 'SecretMode', message: `secret file ${name} has mode ${m.mode ?? '?'}; the gateway would not start until it is 0600 or 0400 (apply refuses ${d.id})` });
  }
  return out;
}

/** which link a secret is reached through: the tenant's secrets dir, or the file (named as `file`) */
function linkedSecret(tenant: string, file: string, link: 'file' | 'dir'): string {
  return link === 'dir' ? `the secrets dir secrets/${tenant} is a symlink` : `${file} is a symlink`;
}

/** `referenced`: gatewaySecrets(d), computed once per plan (it serialises the tenant's whole openclaw.json). */
function tenantHealthIssues(node: string, d: TenantDesired, t: TenantObservation | undefined, referenced: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  if (!t?.current) return issues;
  const label = `ai.openclaw.${d.id}`;
  const probe = { category: 'probe' as const, node, tenant: d.id, difference: false };
  if (!t.launchd.loaded) issues.push({ ...probe, severity: 'warning', reason: 'ServiceNotLoaded', message: `launchd service ${label} is not loaded` });
  else if (t.launchd.state !== 'running') issues.push({ ...probe, severity: 'warning', reason: 'ServiceNotRunning', message: `launchd service ${label} is ${t.launchd.state ?? 'in an unknown state'} (last exit code ${t.launchd.lastExitCode ?? '?'})` });
  const tok = { category: 'token' as const, node, tenant: d.id, difference: false };
  const cur = t.tokens['token.current'];
  const next = t.tokens['token.next'];
  for (const [name, m] of [['token.current', cur], ['token.next', next]] as const) {
    if (referenced.includes(name)) continue; // a referenced secret is checked by secretProblems (it blocks apply)
    if (m.link) issues.push({ ...tok, severity: 'warning', reason: 'TokenMode', file: name, message: `${linkedSecret(d.id, name, m.link)}: never followed, and the gateway wrapper does not use it; expected a regular file, 0600` });
    else if (m.present && m.mode !== '600' && m.mode !== '400') issues.push({ ...tok, severity: 'warning', reason: 'TokenMode', file: name, message: `${name} has mode ${m.mode ?? '?'}; expected 0600` });
  }
  if (next.present) {
    const same = cur.present && cur.fingerprint === next.fingerprint;
    issues.push({
      ...tok,
      severity: same ? 'warning' : 'info',
      reason: same ? 'TokenNotRotated' : 'TokenOverlap',
      // (never the fingerprints: 48 bits of a short secret's sha256 give it back in a few thousand guesses)
      message: same ? 'token.next equals token.current: nothing to rotate' : `rotation in progress: token.next staged beside token.current${cur.fingerprint === undefined ? ' (missing)' : ''}`,
    });
  }
  return issues;
}

function planNode(node: NodeSpec, result: ObserveResult | undefined, desired: DesiredState, opts: PlanOptions, referencedBy: (d: TenantDesired) => readonly string[], memo: PlanMemo): NodePlan {
  const np: NodePlan = { node: node.name, role: node.role, canary: node.canary, status: 'InSync', blocked: false, tenants: [], actions: [], issues: [], diffs: [] };
  if (!result || !result.ok) {
    np.status = result?.reason ?? 'Unreachable';
    np.blocked = true;
    np.issues.push({ category: 'unreachable', severity: 'error', reason: np.status, node: node.name, message: result?.message ?? `${node.name}: not observed`, difference: true });
    return np;
  }
  const o = result.observation;
  for (const e of o.errors) np.issues.push({ category: 'drift', severity: 'error', reason: 'UnexpectedEntry', node: node.name, message: e, difference: true });
  const skew = versionIssues(node, o, desired);
  np.issues.push(...skew);
  if (opts.lowDiskKb !== undefined && o.disk && o.disk.freeKb < opts.lowDiskKb) {
    np.issues.push({ category: 'probe', severity: 'warning', reason: 'LowDisk', node: node.name, message: `only ${Math.round(o.disk.freeKb / 1024)} MiB free under ${desired.settings.paths.etc}`, difference: false });
  }

  let drifted = false;
  let changed = false;
  let blockedTenants = false;
  // a string whose sha256 matches a secret file on this node is redacted wherever it appears in a diff
  // every secret file the node reported (tokens and each other referenced secret): its value is redacted wherever a
  // node's content shows it, whatever file it was copied or linked into
  const fingerprints = Object.values(o.tenants).flatMap((t) => [...Object.values(t.tokens), ...Object.values(t.secrets)].flatMap((m) => (m.present && m.fingerprint ? [m.fingerprint] : [])));
  for (const id of node.tenants) {
    const d = desired.tenants.get(id);
    if (!d) continue; // lint reports unknown tenants; a plan is only made from a clean repo
    const t = Object.hasOwn(o.tenants, id) ? o.tenants[id] : undefined;
    const tp: TenantPlan = { tenant: id, state: 'InSync', desiredRelease: d.releaseId };
    if (t?.current?.releaseId) tp.currentRelease = t.current.releaseId;
    if (t?.prev?.releaseId) tp.prevRelease = t.prev.releaseId;
    const drift = t ? driftedFiles(t) : [];
    for (const f of drift) {
      np.issues.push({ category: 'drift', severity: 'error', reason: 'Drifted', node: node.name, tenant: id, file: f.path, message: `${f.path} ${f.what} (release ${t?.current?.releaseId ?? t?.current?.target ?? '?'})`, difference: true });
    }
    if (t && t.unexpected.length > 0) {
      // not clawops' own (a link pointing anywhere, a symlinked releases dir…): reported, never read or touched
      tp.state = 'Blocked';
      for (const m of t.unexpected) np.issues.push({ category: 'drift', severity: 'error', reason: 'UnexpectedEntry', node: node.name, tenant: id, message: `${m}; apply leaves ${id} alone until it is fixed by hand`, difference: true });
      blockedTenants = true;
      np.tenants.push(tp);
      continue;
    }
    const referenced = referencedBy(d);
    const secrets = secretProblems(d, t, referenced);
    const quarantined = t !== undefined && t.quarantined.includes(d.releaseId) && t.current?.releaseId !== d.releaseId && opts.retryQuarantined !== true;
    // the link still on a release that was rolled back automatically: the rollback could not finish (a first deploy
    // whose units could not be removed); never left silent. (A release made live again, by --retry-quarantined or a
    // repaired node, loses its quarantine record once past its gate: FINISH's Q lines)
    const stuck = t !== undefined && t.current?.releaseId === d.releaseId && t.quarantined.includes(d.releaseId);
    if (stuck && opts.retryQuarantined === true) np.actions.push({ kind: 'reload', tenant: id, releaseId: d.releaseId });
    const stuckBlocked = stuck && opts.retryQuarantined !== true;
    if (secrets.length > 0 || quarantined || stuckBlocked) {
      tp.state = 'Blocked';
      for (const sp of secrets) np.issues.push({ category: 'token', severity: 'error', reason: sp.reason, node: node.name, tenant: id, file: sp.name, message: sp.message, difference: true });
      if (quarantined) np.issues.push({ category: 'drift', severity: 'error', reason: 'Quarantined', node: node.name, tenant: id, message: `release ${d.releaseId} was rolled back automatically on this node and is quarantined; a new commit (new content) or apply --retry-quarantined tries again`, difference: true });
      if (stuckBlocked) np.issues.push({ category: 'drift', severity: 'error', reason: 'Quarantined', node: node.name, tenant: id, message: `its link is still on release ${d.releaseId}, which was rolled back automatically and is quarantined (the rollback could not finish); fix what that failure named, then a new commit or apply --retry-quarantined starts it again`, difference: true });
      blockedTenants = true;
      np.issues.push(...tenantHealthIssues(node.name, d, t, referenced));
      np.tenants.push(tp);
      continue;
    }
    // the service runs a release other than the one its link points at (started before the swap, never reloaded)
    if (t?.current?.releaseId && t.run && t.launchd.pid !== undefined && t.launchd.pid === t.run.pid && t.run.releaseId !== t.current.releaseId) {
      np.issues.push({ category: 'drift', severity: 'warning', reason: 'NotReloaded', node: node.name, tenant: id, message: `ai.openclaw.${id} (pid ${t.run.pid}) still runs release ${t.run.releaseId}, not ${t.current.releaseId}; apply reloads it`, difference: true });
      if (t.current.releaseId === d.releaseId && drift.length === 0) np.actions.push({ kind: 'reload', tenant: id, releaseId: d.releaseId });
      changed = true;
    }
    if (t?.prev && t.prevComplete !== true) {
      np.issues.push({ category: 'drift', severity: 'warning', reason: 'PrevIncomplete', node: node.name, tenant: id, message: `.prev points at release ${t.prev.releaseId ?? t.prev.target}, which is missing or incomplete: rollback is not possible`, difference: false });
    }
    const diffs = fileDiffs(d, t, { fingerprints }, memo);
    if (!t?.current) tp.state = 'NotDeployed';
    else if (drift.length > 0) tp.state = 'Drifted';
    else if (tp.currentRelease !== d.releaseId || diffs.length > 0) tp.state = 'Changed';
    if (tp.state === 'Changed' || tp.state === 'NotDeployed') {
      np.issues.push({
        category: 'drift',
        severity: 'warning',
        reason: tp.state,
        node: node.name,
        tenant: id,
        message: tp.state === 'NotDeployed' ? `not deployed; release ${d.releaseId} would be staged (${d.files.length} files)` : `release ${tp.currentRelease ?? '?'} → ${d.releaseId} (${diffs.length} file(s) differ)`,
        difference: true,
      });
    }
    if (tp.state !== 'InSync') {
      np.actions.push({ kind: 'deploy', tenant: id, releaseId: d.releaseId, reason: tp.state === 'Drifted' ? 'Drifted' : tp.state === 'NotDeployed' ? 'NotDeployed' : 'Changed', files: d.files });
      np.diffs.push(...diffs);
    }
    drifted ||= tp.state === 'Drifted';
    changed ||= tp.state !== 'InSync';
    np.issues.push(...tenantHealthIssues(node.name, d, t, referenced));
    np.tenants.push(tp);
  }
  // Tenants the node has that the repo no longer assigns: reported; removed only when asked.
  const assigned = new Set(node.tenants);
  for (const [id, t] of Object.entries(o.tenants).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (assigned.has(id)) continue;
    if (t.unexpected.length > 0) {
      for (const m of t.unexpected) np.issues.push({ category: 'drift', severity: 'error', reason: 'UnexpectedEntry', node: node.name, tenant: id, message: `${m} (left alone)`, difference: true });
      blockedTenants = true;
      continue;
    }
    // (no current link but a .prev or release dirs: what a removal cut short after its links went leaves behind)
    if (!t.current && !t.prev && t.releases.length === 0) continue;
    const left = t.current ? '' : `; what is left of it (releases/${id}: ${t.releases.length} release dir(s)${t.prev ? ', a .prev link' : ''}) has no current link`;
    np.tenants.push({ tenant: id, state: 'Unassigned', ...(t.current?.releaseId ? { currentRelease: t.current.releaseId } : {}) });
    np.issues.push({
      category: 'drift',
      severity: 'warning',
      reason: 'Unassigned',
      node: node.name,
      tenant: id,
      message: opts.prune ? `no longer assigned to this node${left}; will be pruned` : `no longer assigned to this node${left} (kept; pass --prune to remove)`,
      difference: true,
    });
    if (opts.prune) np.actions.push({ kind: 'prune', tenant: id });
    changed = true;
  }

  // the notifier unit of a notifier node: installed as rendered and loaded
  const nu = notifierUnitFor(desired, node);
  if (nu) {
    const have = o.nodeUnits[nu.label]?.sha256;
    const svc = o.nodeServices[nu.label];
    const why = have === undefined ? 'is not installed' : have !== nu.sha256 ? 'differs from the repo\'s launchd/notifier.plist' : !svc?.loaded ? 'is not loaded' : undefined;
    if (why) {
      np.issues.push({ category: 'drift', severity: 'warning', reason: 'NotifierUnit', node: node.name, message: `the notifier unit ${nu.label} ${why}; apply installs and starts it first`, difference: true });
      np.actions.unshift({ kind: 'node-unit', label: nu.label, sha256: nu.sha256 });
      changed = true;
    }
  }
  // what dead runs left: unrecorded swaps, temp links, staging dirs, lists; a held lock
  const held = o.lock !== undefined ? lockNote(o.lock, o.now) : undefined;
  if (held) np.issues.push({ category: 'drift', severity: held.stale ? 'warning' : 'info', reason: held.stale ? 'StaleLock' : 'Locked', node: node.name, message: held.message, difference: held.stale });
  // (only what the next apply will record: a record whose swap never happened is no unrecorded swap; an intent file
  // with nothing to record is litter, named with the rest)
  // (a link to anything but a release counts as a link, to no release id)
  const pending = o.intents.map((lines) => pendingRecords(lines, (t) => { const c = o.tenants[t]?.current; return c ? (c.releaseId ?? '') : undefined; }));
  const emptyIntents = new Set(o.leftovers.filter((l) => l.kind === 'intent').filter((_, i) => pending[i]?.every((r) => r.action === 'reload') ?? false).map((l) => l.name));
  for (const r of pending.flat()) {
    if (r.action === 'reload') continue;
    const what = r.action === 'DeadManRollback'
      ? `the dead-man guard of run ${r.run ?? '?'} put it back on release ${r.release || '(none)'} (DeadManRollback) but could not write the reload log`
      : `run ${r.run ?? '?'} ${r.action === 'rollback' ? 'rolled back' : 'swapped'} to release ${r.release || '(none)'} without recording it (killed, or the reload log unwritable?)`;
    np.issues.push({ category: 'drift', severity: 'warning', reason: 'UnrecordedSwap', node: node.name, tenant: r.tenant, message: `${what}; the next apply records it`, difference: true });
  }
  // an intent file larger than observe reads: what it shows above is of its first 64 KiB; the node settles it whole
  for (const name of o.intentsCut ?? []) {
    np.issues.push({ category: 'drift', severity: 'warning', reason: 'UnrecordedSwap', node: node.name, message: `${name} is larger than 64 KiB: diff shows the records of its first 64 KiB only; the next apply records the whole file`, difference: true });
  }
  // a guard long past its deadline is gone (a live one fires by then): its file is litter the next apply removes
  // (or whose process the node says is gone: a reboot)
  const deadGuards = o.guards.filter((g) => g.alive === false || (g.alive === undefined && o.now !== undefined && g.deadline > 0 && o.now > g.deadline + (g.run.endsWith('.firing') ? 900 : 60)));
  for (const g of o.guards.filter((x) => !deadGuards.includes(x))) {
    const left = o.now !== undefined && g.deadline > 0 ? g.deadline - o.now : undefined;
    np.issues.push({ category: 'probe', severity: 'info', reason: 'PendingGuard', node: node.name, message: `dead-man guard of run ${g.run} pending for ${guardTenants(g)}${left !== undefined ? `: reverts in ${Math.max(0, left)} s unless confirmed` : ''}`, difference: false });
  }
  const litter = [...o.leftovers.filter((l) => l.kind !== 'intent' || emptyIntents.has(l.name)), ...deadGuards.map((g) => ({ name: `guard.${g.run}` }))];
  if (litter.length > 0) np.issues.push({ category: 'drift', severity: 'warning', reason: 'Leftovers', node: node.name, message: `left by a dead run: ${litter.map((l) => l.name).join(', ')}; the next apply removes them`, difference: true });
  if ((o.intents.length > 0 || litter.length > 0 || held?.stale === true) && (held === undefined || held.stale)) np.actions.push({ kind: 'recover' });

  if (skew.length > 0) {
    np.status = 'VersionSkew';
    np.blocked = true;
  } else if (drifted || blockedTenants || o.errors.length > 0) np.status = 'Drifted';
  else if (changed || np.actions.length > 0) np.status = 'OutOfSync';
  // what a node sent that reaches a message or a file name (a version line, an error, an exit code, a file it added):
  // a secret's shape, a token, or a node secret's value never printed, whatever else the message says
  for (const i of np.issues) {
    i.message = redactNodeText(i.message, fingerprints);
    if (i.file !== undefined) i.file = redactNodeText(i.file, fingerprints);
  }
  for (const f of np.diffs) {
    const path = redactNodeText(f.path, fingerprints);
    if (path !== f.path) {
      f.patch = f.patch.split(f.path).join(path);
      f.path = path;
    }
  }
  return np;
}

/** Pure: who holds a node lock and whether it has expired by the node's clock. */
function lockNote(raw: string, now: number | undefined): { stale: boolean; message: string } {
  try {
    const j = JSON.parse(raw) as { run?: unknown; owner?: unknown; acquired_epoch?: unknown; ttl_sec?: unknown };
    if (typeof j.acquired_epoch === 'number' && typeof j.ttl_sec === 'number') {
      const stale = now !== undefined && now >= j.acquired_epoch + j.ttl_sec;
      const who = `${String(j.owner ?? '?')} (run ${String(j.run ?? '?')})`;
      return { stale, message: stale ? `the node lock of ${who} expired ${now - j.acquired_epoch - j.ttl_sec} s ago; the next apply takes it over` : `locked by ${who}: an apply is running` };
    }
  } catch {
    /* fall through */
  }
  return { stale: false, message: 'the node lock file is unreadable; if no apply is running, remove it by hand' };
}


/**
 * Plans nodes one at a time against one desired state, sharing what does not depend on the node (the secrets each
 * tenant references, release paths, patches): a caller that plans each node as soon as it is observed can drop the
 * node's file data right after (the controller does, so a pass holds one node's files at a time).
 */
export function planner(desired: DesiredState, opts: PlanOptions = {}): (n: NodeSpec, observed: ObserveResult | undefined) => NodePlan {
  // the secrets each tenant's gateway references, once per tenant rather than once per (node, tenant)
  const referenced = new Map<TenantDesired, readonly string[]>();
  const referencedBy = (d: TenantDesired): readonly string[] => {
    let r = referenced.get(d);
    if (r === undefined) referenced.set(d, (r = gatewaySecrets(d)));
    return r;
  };
  const memo: PlanMemo = { paths: new Map(), patches: new Map() };
  return (n, observed) => planNode(n, observed, desired, opts, referencedBy, memo);
}

/** Pure: the fleet plan of node plans (their worst status, whether anything differs). */
export function combinePlans(planned: NodePlan[], revision?: string): Plan {
  const worst = planned.reduce<NodeStatus>((w, n) => (STATUS_ORDER.indexOf(n.status) < STATUS_ORDER.indexOf(w) ? n.status : w), 'InSync');
  const p: Plan = { nodes: planned, inSync: planned.every((n) => n.issues.every((i) => !i.difference)), worst };
  if (revision) p.revision = revision;
  return p;
}

export function plan(desired: DesiredState, observed: readonly ObserveResult[], nodes: readonly NodeSpec[] = desired.nodes, opts: PlanOptions = {}): Plan {
  const byNode = new Map(observed.map((r) => [r.node, r]));
  const planOne = planner(desired, opts);
  return combinePlans(nodes.map((n) => planOne(n, byNode.get(n.name))), opts.revision);
}

/** `a, b, c and N more`: the first `n` of a list (from a node's file: any length) for one line */
export function someOf(items: readonly string[], n: number): string {
  const more = items.length - n;
  return `${items.slice(0, n).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

/** The tenants a dead-man guard would put back, for one line: the first five, then how many more (a node's file). */
export function guardTenants(g: { tenants: readonly string[] }): string {
  return g.tenants.length === 0 ? '?' : someOf(g.tenants, 5);
}
