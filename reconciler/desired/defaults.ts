import type { Lock, NodeSpec, Settings } from './types.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function settingsWithDefaults(raw: DeepPartial<Settings>): Settings {
  const settings: Settings = {
    apiVersion: 'clawops/v1',
    paths: { etc: raw.paths?.etc ?? '/etc/openclaw', var_db: raw.paths?.var_db ?? '/var/db/openclaw', launch_daemons: raw.paths?.launch_daemons ?? '/Library/LaunchDaemons' },
    refs: { canary: raw.refs?.canary ?? 'refs/heads/main', fleet: raw.refs?.fleet ?? 'refs/tags/release/*' },
    gating: {
      green_passes: raw.gating?.green_passes ?? 2,
      allow_degraded: raw.gating?.allow_degraded ?? false,
      require_replay: raw.gating?.require_replay ?? false,
    },
    releases: { keep: raw.releases?.keep ?? 5 },
    concurrency: raw.concurrency ?? 10,
    reload_concurrency: raw.reload_concurrency ?? 1,
    health: {
      deadline_sec: raw.health?.deadline_sec ?? 180,
      confirm_sec: raw.health?.confirm_sec ?? 300,
      allow_degraded: raw.health?.allow_degraded ?? false,
      poll_ms: raw.health?.poll_ms ?? 1000,
    },
    ssh: {
      connect_timeout_ms: raw.ssh?.connect_timeout_ms ?? 10_000,
      command_timeout_ms: raw.ssh?.command_timeout_ms ?? 60_000,
      keepalive_ms: raw.ssh?.keepalive_ms ?? 15_000,
    },
    probe: {
      doctor_interval_sec: raw.probe?.doctor_interval_sec ?? 30,
      doctor_timeout_sec: raw.probe?.doctor_timeout_sec ?? 20,
      gateway_timeout_ms: raw.probe?.gateway_timeout_ms ?? 2_000,
      digest_url: raw.probe?.digest_url ?? 'http://127.0.0.1:9099/v1/webhook-digest',
      digest_timeout_ms: raw.probe?.digest_timeout_ms ?? 3_000,
      digest_slo_sec: raw.probe?.digest_slo_sec ?? 600,
    },
    notifier: {
      socket: raw.notifier?.socket ?? '/var/db/openclaw/clawops/notifier.sock',
      listen: raw.notifier?.listen ?? '127.0.0.1:9099',
      window_sec: raw.notifier?.window_sec ?? 300,
      max_keys: raw.notifier?.max_keys ?? 10_000,
      state_file: raw.notifier?.state_file ?? '/var/db/openclaw/clawops/notifier-digest.json',
    },
  };
  if (raw.ssh?.known_hosts) settings.ssh.known_hosts = raw.ssh.known_hosts;
  if (raw.notifier?.slack_webhook?.secret_ref) settings.notifier.slack_webhook = { secret_ref: raw.notifier.slack_webhook.secret_ref };
  const email = raw.notifier?.email;
  if (email?.smtp_host && email.from && email.to) {
    settings.notifier.email = { smtp_host: email.smtp_host, from: email.from, to: email.to.filter((x): x is string => typeof x === 'string') };
    if (email.smtp_port !== undefined) settings.notifier.email.smtp_port = email.smtp_port;
    if (email.secure !== undefined) settings.notifier.email.secure = email.secure;
    if (email.password?.secret_ref) settings.notifier.email.password = { secret_ref: email.password.secret_ref };
  }
  return settings;
}

export function nodeWithDefaults(raw: Partial<NodeSpec> & Pick<NodeSpec, 'name' | 'host' | 'role'>): NodeSpec {
  const node: NodeSpec = {
    name: raw.name,
    host: raw.host,
    port: raw.port ?? 22,
    user: raw.user ?? 'clawops',
    role: raw.role,
    canary: raw.canary ?? false,
    transport: raw.transport ?? 'ssh',
    port_offset: raw.port_offset ?? 0,
    tenants: [...(raw.tenants ?? [])],
  };
  if (raw.host_key) node.host_key = raw.host_key;
  if (raw.root) node.root = raw.root;
  return node;
}

export const EMPTY_LOCK: Lock = {
  openclaw: { version: '', commit: '' },
  daemon: { sha256: '' },
  swift_runtime: { build: '' },
  companion_agent: { version: '' },
};
