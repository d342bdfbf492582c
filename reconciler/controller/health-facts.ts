/**
 * What the health stage learned of a node this pass: the types derive.ts reads and health-stage.ts produces (their own
 * module, so neither of those two imports the other).
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
