/** Source → desired state, refusing a repo with errors. Shared by diff, apply and (later) the controller. */
import { buildDesired, formatFinding } from '../desired/build-desired.js';
import type { DesiredState, Finding, NodeSpec } from '../desired/types.js';
import { UsageError, ValidationError } from '../errors.js';
import { isGitUrl, openSource, type Source } from './git-source.js';
import { readTree, readTreeSync } from './read-tree.js';

export interface Loaded {
  source: Source;
  desired: DesiredState;
}

/** Open the source, build the desired state, and refuse it when `blocking` errors exist (the temp clone is removed then). */
async function load(repo: string, ref: string | undefined, blocking: (f: Finding) => boolean, what: (s: Source) => string): Promise<Loaded> {
  // A local checkout read as it is does not depend on git's answers (commit, tag, dirty): its tree is read and
  // built while git's processes run. A clone must exist before it is read.
  const inPlace = ref === undefined && !isGitUrl(repo);
  const opening = openSource(repo, ref);
  let built: DesiredState | undefined;
  let early: unknown;
  if (inPlace) {
    opening.catch(() => undefined);
    // one macrotask so that git's processes are spawned before the synchronous read and build hold the thread
    await new Promise((r) => setImmediate(r));
    try {
      built = buildDesired(readTreeSync(repo));
    } catch (e) {
      early = e;
    }
  }
  const source = await opening;
  try {
    if (early !== undefined) throw early;
    const desired = built ?? buildDesired(await readTree(source.dir));
    const errors = desired.findings.filter((f) => f.severity === 'error' && blocking(f));
    if (errors.length > 0) throw new ValidationError(`${what(source)} ${errors.length} error(s), first: ${formatFinding(errors[0]!)}; run clawops lint`, errors);
    return { source, desired };
  } catch (e) {
    source.cleanup();
    throw e;
  }
}

export function loadDesired(repo: string, ref?: string): Promise<Loaded> {
  return load(repo, ref, () => true, (s) => `${s.origin}${s.ref ? `@${s.ref}` : ''} has`);
}

/**
 * The inventory and settings only, for commands that must work when tenant fragments are broken (rollback at 3 a.m.
 * is often *because* of a bad change): errors in tenants/ are ignored, errors in nodes.yaml or clawops.yaml are not.
 */
export function loadInventory(repo: string, ref?: string): Promise<Loaded> {
  return load(repo, ref, (f) => f.file === 'nodes.yaml' || f.file === 'clawops.yaml', (s) => `${s.origin}: inventory has`);
}

/** The inventory's nodes, or the ones named with --node (unknown names are a usage error). */
export function selectNodes(desired: DesiredState, names: readonly string[] | undefined): NodeSpec[] {
  if (!names || names.length === 0) return [...desired.nodes];
  const byName = new Map(desired.nodes.map((n) => [n.name, n]));
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length > 0) throw new UsageError(`--node ${unknown.join(', ')}: not in nodes.yaml (known: ${[...byName.keys()].join(', ')})`);
  return [...new Set(names)].map((n) => byName.get(n)!);
}
