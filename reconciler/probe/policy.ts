/**
 * The tenant's rendered doctor policy (doctor.json, written by `desired/` into every release). It is checked
 * against the doctor-fragment schema (the rendered file is a fully-defaulted fragment plus `tenant`), missing
 * keys get the same defaults the renderer uses, and time zones are checked with Intl.
 * The file is re-read when the `tenants/<tenant>` link moves or the file changes, so a release swap changes the
 * probe's judgement without a restart; a bad new policy keeps the last good one (and says so in /readyz).
 */
import { realpathSync, statSync } from 'node:fs';
import { FileRefused, readRegularFile } from '../bounded-read.js';
import { settingsWithDefaults } from '../desired/defaults.js';
import { renderDoctorPolicy } from '../desired/render.js';
import { validateValue } from '../desired/schema.js';
import type { DoctorPolicy } from '../desired/types.js';
import { IoError, ValidationError } from '../errors.js';
import { assertTimeZone } from './maintenance.js';

export function defaultPolicyPath(tenant: string): string {
  return `/etc/openclaw/tenants/${tenant}/doctor.json`;
}

/** Parse and check a policy document. Throws ValidationError naming the file. */
export function parseDoctorPolicy(value: unknown, tenant: string, file: string): DoctorPolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError(`policy ${file}: not a JSON object`);
  const { tenant: forTenant, ...rest } = value as Record<string, unknown>;
  if (forTenant !== undefined && forTenant !== tenant) throw new ValidationError(`policy ${file}: written for tenant ${JSON.stringify(forTenant)}, not "${tenant}"`);
  const errors = validateValue('doctor-fragment', rest);
  if (errors.length > 0) throw new ValidationError(`policy ${file}: ${errors.slice(0, 3).join('; ')}`);
  const policy = renderDoctorPolicy(rest, tenant, settingsWithDefaults({}));
  for (const [name, w] of Object.entries(policy.maintenance_windows)) {
    try {
      assertTimeZone(w.tz);
    } catch {
      throw new ValidationError(`policy ${file}: maintenance window "${name}": unknown time zone "${w.tz}"`);
    }
  }
  return policy;
}

/** the largest policy file read (a rendered doctor.json is a few KB) */
const MAX_POLICY_BYTES = 1024 * 1024;

export function loadDoctorPolicy(file: string, tenant: string): DoctorPolicy {
  let bytes: Buffer | undefined;
  try {
    // never a FIFO or a device (a read that never ends would stop the whole probe: /healthz too), nor a link at the end
    bytes = readRegularFile(file, MAX_POLICY_BYTES);
  } catch (e) {
    if (e instanceof FileRefused) throw new IoError(`policy ${e.message}`);
    throw new IoError(`policy ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (bytes === undefined) throw new IoError(`policy ${file}: ENOENT`);
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError(`policy ${file}: not valid JSON`);
  }
  return parseDoctorPolicy(value, tenant, file);
}

/** Identity of what `file` points at now: the resolved path (release swaps move it) plus mtime and size. */
function identity(file: string): string {
  try {
    const real = realpathSync(file);
    const s = statSync(real);
    return `${real}|${s.mtimeMs}|${s.size}`;
  } catch (e) {
    return `missing:${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

export class PolicySource {
  private current: DoctorPolicy;
  private seen: string;
  private problem: string | null = null;

  constructor(
    private readonly file: string,
    private readonly tenant: string,
  ) {
    this.seen = identity(file);
    this.current = loadDoctorPolicy(file, tenant);
  }

  get policy(): DoctorPolicy {
    return this.current;
  }

  /** Why the policy in use is not the file's current content, or null. */
  get error(): string | null {
    return this.problem;
  }

  /** Re-read if the file changed; returns true when a new policy took effect. */
  refresh(): boolean {
    const id = identity(this.file);
    if (id === this.seen) return false;
    this.seen = id;
    try {
      this.current = loadDoctorPolicy(this.file, this.tenant);
      this.problem = null;
      return true;
    } catch (e) {
      this.problem = `policy: reload failed, still using the previous one: ${(e as Error).message}`;
      return false;
    }
  }
}
