/**
 * What the health stage learned of a node this pass: the types derive.ts and connections.ts read and health-stage.ts
 * produces (their own module, so none of those imports another in a circle).
 */
import type { ProbeSummary, WebhookDigestSummary } from './status.js';

/** what a node's health command gave: per tenant asked, its answer; the digest when asked */
export interface HealthFacts {
  probes: Record<string, ProbeSummary>;
  digest?: DigestRead;
  /** tenants asked whose current release has no launchd units (nothing answers readiness: launchd's word stands) */
  noUnits?: string[];
}

export type DigestRead = ({ ok: true } & Omit<WebhookDigestSummary, 'error' | 'errorAt'>) | { ok: false; at: string; error: string };

/** what a node's health command asks: the tenants, the notifier digest, where each tenant answers */
export interface HealthTargets {
  tenants: string[];
  digest?: string;
  /** per tenant asked, where it answers (readinessUrl); a tenant without one is reported `none` (not asked) */
  urls?: Record<string, { source: 'probe' | 'gateway'; url: string }>;
}
