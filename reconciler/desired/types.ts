/**
 * The shapes of desired state. Everything downstream (observe, plan, apply, probe, notifier) reads these;
 * change them with care.
 */

export type Severity = 'info' | 'warning' | 'error';
export const SEVERITY_ORDER: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

export type Kind = 'gateway' | 'doctor' | 'webhook';
export const KINDS: readonly Kind[] = ['gateway', 'doctor', 'webhook'];

/** A lint/validation problem, always tied to a file (repo-relative) and a position. */
export interface Finding {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
  rule: string;
}

/** clawops.yaml after defaults. */
export interface Settings {
  apiVersion: 'clawops/v1';
  paths: { etc: string; var_db: string; launch_daemons: string };
  /** what the controller pins: canary nodes follow `canary`, all others `fleet` (a ref, a name, or a tag glob) */
  refs: { canary: string; fleet: string };
  /** what the canaries must prove about a commit before the controller fans it out (specs/controller.md) */
  gating: { green_passes: number; allow_degraded: boolean; require_replay: boolean };
  releases: { keep: number };
  concurrency: number;
  /** gateway restarts at once on one node (start-up is CPU-bound) */
  reload_concurrency: number;
  /** the health gate after every swap, and the dead-man guard */
  health: { deadline_sec: number; confirm_sec: number; allow_degraded: boolean; poll_ms: number };
  ssh: { connect_timeout_ms: number; command_timeout_ms: number; keepalive_ms: number; known_hosts?: string };
  probe: {
    doctor_interval_sec: number;
    doctor_timeout_sec: number;
    gateway_timeout_ms: number;
    digest_url: string;
    digest_timeout_ms: number;
    digest_slo_sec: number;
  };
  notifier: {
    socket: string;
    listen: string;
    window_sec: number;
    max_keys: number;
    state_file: string;
    slack_webhook?: SecretRef;
    email?: { smtp_host: string; smtp_port?: number; secure?: boolean; from: string; to: string[]; password?: SecretRef };
  };
}

export interface SecretRef {
  secret_ref: string;
}

export type NodeRole = 'gateway' | 'notifier';

/** One entry of nodes.yaml after defaults. */
export interface NodeSpec {
  name: string;
  host: string;
  port: number;
  user: string;
  host_key?: string;
  role: NodeRole;
  canary: boolean;
  transport: 'ssh' | 'local';
  root?: string;
  /**
   * added to every gateway's base port on this node at run time (`gateway run --port`): nodes that share one network,
   * such as the directories of a local fleet, need distinct port blocks. 0 on real Macs.
   */
  port_offset?: number;
  tenants: string[];
}

/** openclaw.lock */
export interface Lock {
  openclaw: { version: string; commit: string };
  daemon: { sha256: string };
  swift_runtime: { build: string };
  companion_agent: { version: string };
}

/** doctor.d rendered with defaults: what `clawops probe` judges doctor output and resources by. */
export interface DoctorPolicy {
  tenant: string;
  doctor: {
    required_checks: string[];
    ignored_checks: string[];
    /** findings at or above this severity make doctor yellow (degraded) */
    warn_on: Severity;
    /** findings at or above this severity make doctor red (fail) */
    fail_on: Severity;
    interval_sec: number;
    timeout_sec: number;
  };
  maintenance_windows: Record<string, MaintenanceWindow>;
  disk: { path: string; warn_free_pct: number; critical_free_pct: number };
  queue: { paths: string[]; warn_bytes: number; critical_bytes: number };
  digest: { slo_sec: number; timeout_ms: number };
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export interface MaintenanceWindow {
  days: Weekday[];
  /** HH:MM, inclusive */
  start: string;
  /** HH:MM, exclusive; an end before start wraps past midnight */
  end: string;
  /** IANA zone, default UTC */
  tz: string;
}

/** webhook.d rendered with defaults: what the notifier and promotion replay read. */
export interface WebhookPolicy {
  tenant: string;
  endpoints: Record<string, WebhookEndpoint>;
}
export interface WebhookEndpoint {
  url: string;
  events: string[];
  enabled: boolean;
  canary: boolean;
  timeout_ms: number;
  signing_secret?: SecretRef;
  fixture?: string;
  retry: { max_attempts: number; backoff_ms: number; max_backoff_ms: number; budget_per_hour: number };
}

/** A file as it will exist inside a release directory on a node. */
export interface ReleaseFile {
  /** release-relative POSIX path, e.g. `gateway.d/10-base.yaml` or `openclaw.json` */
  path: string;
  content: Buffer;
  sha256: string;
}

export interface TenantDesired {
  id: string;
  /** fragments byte-identical to git, then the rendered documents; sorted by path */
  files: ReleaseFile[];
  /** the OpenClaw profile config, rendered (openclaw.json) */
  openclaw: Record<string, unknown>;
  doctor: DoctorPolicy;
  webhook: WebhookPolicy;
  /** secret names the tenant references (never values) */
  secretRefs: string[];
  /** content address of `files`: the same inputs give the same id on every machine */
  releaseId: string;
  /** for mapping a rendered key back to where it was set: dotted path → fragment file:line:col */
  provenance: Record<string, { file: string; line: number; col: number }>;
  /** launchd units rendered from the repo's launchd/ templates (release-relative paths under launchd/) */
  units: { kind: 'gateway' | 'probe'; label: string; path: string }[];
  /** gateway.port of the rendered openclaw.json */
  port: number;
  /** the composite probe's port (port + 115) when the tenant has a probe unit */
  probePort?: number;
}

export interface DesiredState {
  settings: Settings;
  nodes: NodeSpec[];
  lock: Lock;
  tenants: Map<string, TenantDesired>;
  /** every problem found; errors make the state unusable for apply */
  findings: Finding[];
  /** the repo's launchd/notifier.plist (linted): rendered per notifier node, on its port block, and installed by apply */
  notifierTemplate?: string;
}

/** The on-node names of rendered documents inside a release. */
export const RENDERED_FILES = { gateway: 'openclaw.json', doctor: 'doctor.json', webhook: 'webhook.json' } as const;
