import type { ReleaseManifest } from '../release-manifest.js';

export interface LaunchdState {
  /** `launchctl print` found the service */
  loaded: boolean;
  state?: string;
  pid?: number;
  lastExitCode?: string;
  /** every top-level `key = value` line of the print output */
  fields: Record<string, string>;
  /** the environment block, when printed */
  environment: Record<string, string>;
  exitCode: number;
}

export interface TokenMeta {
  present: boolean;
  /** the file ('file') or the tenant's secrets dir ('dir') is a symlink: never followed, and the wrapper refuses it */
  link?: 'file' | 'dir';
  /** octal permission bits, e.g. "600" */
  mode?: string;
  mtime?: number;
  /** first 12 hex of the file's sha256: tells two tokens apart without revealing either */
  fingerprint?: string;
}

export interface LinkState {
  target: string;
  /** basename of the target when it lies under releases/<tenant>/ */
  releaseId?: string;
}

export interface TenantObservation {
  tenant: string;
  current?: LinkState;
  prev?: LinkState;
  /** release directories present under releases/<tenant>/ */
  releases: string[];
  /** what is really in the current release: path → sha256, or "symlink" */
  files: Record<string, string>;
  /** old content of the files that differ from the desired release (for unified diffs) */
  contents: Record<string, Buffer>;
  /** the current / .prev link's release is complete on the node (manifest present, every hash matches) */
  currentComplete?: boolean;
  prevComplete?: boolean;
  /** entries of the current release whose names are outside the safe set (tab/newline shown as '?') */
  unsafeNames: string[];
  /** sizes of differing files clawops did not write (their content is never fetched) */
  sizes: Record<string, number>;
  /** why this tenant's tree is not clawops' own (links or dirs pointing elsewhere); nothing of it was read */
  unexpected: string[];
  manifest?: ReleaseManifest | { invalid: string };
  /**
   * the .prev release's manifest; in a compact observation (the default) without its file list when it is in
   * clawops' own form (files: {}): nothing reads it, whether rollback is possible is prevComplete, judged on the node
   */
  prevManifest?: ReleaseManifest | { invalid: string };
  launchd: LaunchdState;
  tokens: { 'token.current': TokenMeta; 'token.next': TokenMeta };
  /** every other secret file the desired release references (hooks.token …), by name */
  secrets: Record<string, TokenMeta>;
  /** what the gateway wrapper recorded when it started (its pid and the release it started for) */
  run?: { pid: number; releaseId: string; commit?: string; tag?: string; startedEpoch?: number };
  /** release ids rolled back automatically on this node (not applied again until their content changes) */
  quarantined: string[];
}

export interface NodeObservation {
  node: string;
  openclaw: { found: boolean; exitCode: number; raw: string; version?: string; commit?: string; cached: boolean };
  daemon?: { path: string; sha256: string };
  disk?: { freeKb: number; totalKb: number };
  /** raw node lock file, if one is held */
  lock?: string;
  /** the node's clock (epoch seconds) when observed */
  now?: number;
  /** what killed or failed runs left: temp links, staging dirs, wanted-file lists, unrecorded swap intents */
  leftovers: { kind: 'templink' | 'staging' | 'want' | 'intent' | 'scratch'; name: string }[];
  /**
   * what runs left in intent files, one array of lines a file: reload-log records of swaps a dead run made without
   * recording them, done marks, the dead-man guard's records (plan/intent-records.ts judges them)
   */
  intents: string[][];
  /**
   * intent files larger than what observe reads of one (64 KiB: a hostile or runaway file): their lines in `intents`
   * are those of the first 64 KiB only (a cut last line dropped); the node's settle reads the whole file
   */
  intentsCut?: string[];
  /** node-level units installed (label → sha256 of the plist) and their launchd state */
  nodeUnits: Record<string, { sha256: string }>;
  nodeServices: Record<string, LaunchdState>;
  /** dead-man guards waiting on the node: the run, when it fires, which tenants it would put back */
  guards: { run: string; deadline: number; tenants: string[]; /** its process still runs (absent: not known) */ alive?: boolean }[];
  tenants: Record<string, TenantObservation>;
  errors: string[];
  /** remote commands this observation cost (the contract is exactly one) */
  commands: number;
  durationMs: number;
}

export type ObserveFailure = 'Unreachable' | 'HostKeyMismatch' | 'ObserveFailed';

export type ObserveResult =
  | { node: string; ok: true; observation: NodeObservation }
  | { node: string; ok: false; reason: ObserveFailure; message: string };
