import type { NodeRole, ReleaseFile } from '../desired/types.js';

/** Triage order: what on-call reads first comes first (isWorse-style ordering by index). */
export const CATEGORIES = ['unreachable', 'drift', 'version-skew', 'probe', 'token'] as const;
export type Category = (typeof CATEGORIES)[number];
export const CATEGORY_TITLES: Record<Category, string> = {
  unreachable: 'Unreachable',
  drift: 'Directory drift',
  'version-skew': 'Version skew',
  probe: 'Probe',
  token: 'Token overlap',
};

export type NodeStatus = 'InSync' | 'OutOfSync' | 'Drifted' | 'VersionSkew' | 'Unreachable' | 'HostKeyMismatch' | 'ObserveFailed';
/** Worst first; folding many nodes into one value takes the lowest index. */
export const STATUS_ORDER: readonly NodeStatus[] = ['HostKeyMismatch', 'Unreachable', 'ObserveFailed', 'VersionSkew', 'Drifted', 'OutOfSync', 'InSync'];
export function isWorse(a: NodeStatus, b: NodeStatus): boolean {
  return STATUS_ORDER.indexOf(a) < STATUS_ORDER.indexOf(b);
}

/** Blocked: the tenant's tree on the node holds something clawops does not own; apply leaves it alone. */
export type TenantState = 'InSync' | 'NotDeployed' | 'Changed' | 'Drifted' | 'Unassigned' | 'Blocked';

export interface Issue {
  category: Category;
  severity: 'error' | 'warning' | 'info';
  /** CamelCase machine reason */
  reason: string;
  node: string;
  tenant?: string;
  file?: string;
  message: string;
  /** counts towards "differences" (exit 1); probe and token notes do not */
  difference: boolean;
}

export interface FileDiff {
  tenant: string;
  path: string;
  change: 'added' | 'removed' | 'modified';
  /** unified diff with secret values redacted; empty when the old content was not available */
  patch: string;
}

export type Action =
  | { kind: 'deploy'; tenant: string; releaseId: string; reason: 'NotDeployed' | 'Changed' | 'Drifted'; files: ReleaseFile[] }
  | { kind: 'prune'; tenant: string }
  /** the link is right but the service still runs an older release: reload and gate it, no swap */
  | { kind: 'reload'; tenant: string; releaseId: string }
  /** a node-level unit (the notifier) to install and (re)start: first on its node */
  | { kind: 'node-unit'; label: string; sha256: string }
  /** a dead run left swaps unrecorded, temp links, staging dirs or lists behind: record and clean under the lock */
  | { kind: 'recover' };

export interface TenantPlan {
  tenant: string;
  state: TenantState;
  desiredRelease?: string;
  currentRelease?: string;
  prevRelease?: string;
}

export interface NodePlan {
  node: string;
  role?: NodeRole;
  canary: boolean;
  status: NodeStatus;
  /** version skew or an unobservable node: apply must not touch it */
  blocked: boolean;
  tenants: TenantPlan[];
  actions: Action[];
  issues: Issue[];
  diffs: FileDiff[];
}

export interface Plan {
  /** the commit the desired state came from, when known */
  revision?: string;
  nodes: NodePlan[];
  inSync: boolean;
  worst: NodeStatus;
}
