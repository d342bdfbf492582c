/**
 * Render merged fragments into the documents a node reads. Pure.
 * - gateway.d → openclaw.json, the profile config `openclaw --profile <t>` reads through OPENCLAW_CONFIG_PATH.
 * - doctor.d  → doctor.json, the probe's policy.   - webhook.d → webhook.json, the notifier's and replay's view.
 * Secrets are never rendered. `{secret_ref: name}` becomes, where OpenClaw accepts a SecretRef (docs:
 * reference/secretref-credential-surface.md), a file SecretRef to /var/db/openclaw/secrets/<t>/<name>; elsewhere
 * (e.g. hooks.token, which OpenClaw does not accept as a SecretRef) a `${CLAWOPS_SECRET_<NAME>}` substitution that
 * the launchd job exports from the same file.
 */
import type { DoctorPolicy, MaintenanceWindow, SecretRef, Settings, WebhookEndpoint, WebhookPolicy } from './types.js';

/** openclaw.json paths whose credentials OpenClaw resolves from SecretRef objects. */
export const SECRETREF_PATHS: ReadonlySet<string> = new Set([
  'gateway.auth.token',
  'gateway.auth.password',
  'gateway.remote.token',
  'gateway.remote.password',
]);

export function isSecretRef(v: unknown): v is SecretRef {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as SecretRef).secret_ref === 'string' && Object.keys(v).length === 1;
}

/** The variable the secret wrapper (and the probe unit) set to the node's var_db: secret file paths in openclaw.json use it. */
export const VAR_DB_ENV = 'CLAWOPS_VAR_DB';

export function secretEnvVar(name: string): string {
  return `CLAWOPS_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export function secretProviderName(name: string): string {
  return `clawops_${name.replace(/[^a-z0-9_-]/g, '_')}`;
}

export function secretFilePath(settings: Pick<Settings, 'paths'>, tenant: string, name: string): string {
  return `${settings.paths.var_db}/secrets/${tenant}/${name}`;
}

export interface RenderedConfig {
  config: Record<string, unknown>;
  secretRefs: string[];
}

export function renderOpenclawConfig(merged: Record<string, unknown>, tenant: string, settings: Pick<Settings, 'paths'>): RenderedConfig {
  const refs = new Set<string>();
  const providers: Record<string, unknown> = {};
  const replace = (v: unknown, path: string[]): unknown => {
    if (isSecretRef(v)) {
      const name = v.secret_ref;
      refs.add(name);
      const dotted = path.join('.');
      if (SECRETREF_PATHS.has(dotted)) {
        const provider = secretProviderName(name);
        // ${CLAWOPS_VAR_DB} (the wrapper exports the node's var_db; OpenClaw substitutes it in any config string): the
        // same release finds its secrets on a Mac, a fleet node and a local node whose / is a directory
        providers[provider] = { source: 'file', path: `\${${VAR_DB_ENV}}${secretFilePath(settings, tenant, name).slice(settings.paths.var_db.length)}`, mode: 'singleValue' };
        return { source: 'file', provider, id: 'value' };
      }
      return `\${${secretEnvVar(name)}}`;
    }
    if (Array.isArray(v)) return v.map((x, i) => replace(x, [...path, String(i)]));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = replace(x, [...path, k]);
      return out;
    }
    return v;
  };
  const config = replace(merged, []) as Record<string, unknown>;
  if (Object.keys(providers).length > 0) config.secrets = { providers };
  return { config, secretRefs: [...refs].sort() };
}

type DoctorFragment = {
  doctor?: Partial<DoctorPolicy['doctor']>;
  maintenance_windows?: Record<string, Partial<MaintenanceWindow>>;
  disk?: Partial<DoctorPolicy['disk']>;
  queue?: Partial<DoctorPolicy['queue']>;
  digest?: Partial<DoctorPolicy['digest']>;
};

export function renderDoctorPolicy(merged: Record<string, unknown>, tenant: string, settings: Pick<Settings, 'probe'>): DoctorPolicy {
  const m = merged as DoctorFragment;
  const windows: Record<string, MaintenanceWindow> = {};
  for (const [name, w] of Object.entries(m.maintenance_windows ?? {})) {
    windows[name] = { days: w.days ?? [], start: w.start ?? '00:00', end: w.end ?? '00:00', tz: w.tz ?? 'UTC' };
  }
  return {
    tenant,
    doctor: {
      required_checks: [...(m.doctor?.required_checks ?? [])],
      ignored_checks: [...(m.doctor?.ignored_checks ?? [])],
      warn_on: m.doctor?.warn_on ?? 'warning',
      fail_on: m.doctor?.fail_on ?? 'error',
      interval_sec: m.doctor?.interval_sec ?? settings.probe.doctor_interval_sec,
      timeout_sec: m.doctor?.timeout_sec ?? settings.probe.doctor_timeout_sec,
    },
    maintenance_windows: windows,
    disk: {
      path: m.disk?.path ?? '/',
      warn_free_pct: m.disk?.warn_free_pct ?? 15,
      critical_free_pct: m.disk?.critical_free_pct ?? 5,
    },
    queue: {
      paths: [...(m.queue?.paths ?? [])],
      warn_bytes: m.queue?.warn_bytes ?? 256 * 1024 * 1024,
      critical_bytes: m.queue?.critical_bytes ?? 1024 * 1024 * 1024,
    },
    digest: {
      slo_sec: m.digest?.slo_sec ?? settings.probe.digest_slo_sec,
      timeout_ms: m.digest?.timeout_ms ?? settings.probe.digest_timeout_ms,
    },
  };
}

export function renderWebhookPolicy(merged: Record<string, unknown>, tenant: string): WebhookPolicy {
  const endpoints: Record<string, WebhookEndpoint> = {};
  const src = (merged.endpoints ?? {}) as Record<string, Partial<WebhookEndpoint>>;
  for (const name of Object.keys(src).sort()) {
    const e = src[name]!;
    const ep: WebhookEndpoint = {
      url: e.url ?? '',
      events: [...(e.events ?? [])],
      enabled: e.enabled ?? true,
      canary: e.canary ?? false,
      timeout_ms: e.timeout_ms ?? 10_000,
      retry: {
        max_attempts: e.retry?.max_attempts ?? 5,
        backoff_ms: e.retry?.backoff_ms ?? 1_000,
        max_backoff_ms: e.retry?.max_backoff_ms ?? 60_000,
        budget_per_hour: e.retry?.budget_per_hour ?? 1_000,
      },
    };
    if (e.signing_secret) ep.signing_secret = e.signing_secret;
    if (e.fixture) ep.fixture = e.fixture;
    endpoints[name] = ep;
  }
  return { tenant, endpoints };
}
