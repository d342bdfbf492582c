/** Shared set-up of the replay tests: tenants-example's two fixture endpoints pointed at a test receiver. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Edit } from '../helpers/repo.js';
import { EXAMPLE } from '../helpers/repo.js';
import { secretValue } from '../helpers/secrets.js';
import type { Receiver } from './receiver.js';

export const ACME_FIXTURE = 'acme-crm-agent-completed.json';
export const GLOBEX_FIXTURE = 'globex-tickets-agent-failed.json';
export const ACME_PATH = '/openclaw/events';
export const GLOBEX_PATH = '/api/openclaw-webhook';
/** the secrets replay may use: acme's crm endpoint signs with webhook.crm; globex's has no signing secret (bearer) */
export const REPLAY_SECRETS = ['token.current', 'token.next', 'hooks.token', 'webhook.crm'] as const;

/** webhook.d edits sending acme's crm and globex's tickets endpoints to the receiver (or to the given URLs). */
export function receiverEdits(rcv: Receiver, urls: { acme?: string; globex?: string } = {}): Record<string, Edit> {
  const edit = (tenant: string, from: RegExp, to: string): [string, string] => {
    const p = `tenants/${tenant}/webhook.d/10-base.yaml`;
    const text = readFileSync(join(EXAMPLE, p), 'utf8');
    if (!from.test(text)) throw new Error(`${p}: url line not found`);
    return [p, text.replace(from, `url: ${to}`)];
  };
  return Object.fromEntries([
    edit('acme', /url: https:\/\/hooks\.acme\.example\/openclaw\/events/, urls.acme ?? rcv.url(ACME_PATH)),
    edit('globex', /url: https:\/\/globex\.example\/api\/openclaw-webhook/, urls.globex ?? rcv.url(GLOBEX_PATH)),
  ]);
}

/**
 * The receiver as the tenants' real endpoints: acme's answers 200 to a delivery signed with its secret, globex's
 * answers 503 (what its fixture recorded) to the right bearer token. `which` picks the secrets they accept.
 */
export function routeAsRecorded(rcv: Receiver, node: string, which: 'current' | 'next' = 'current', status: { acme?: number; globex?: number } = {}): void {
  const crm = which === 'current' ? 'webhook.crm' : 'token.next';
  rcv.routes.set(ACME_PATH, { status: status.acme ?? 200, auth: 'hmac', secrets: { [which]: secretValue(node, 'acme', crm) } });
  rcv.routes.set(GLOBEX_PATH, { status: status.globex ?? 503, auth: 'bearer', secrets: { [which]: secretValue(node, 'globex', `token.${which}`) } });
}

/** Every secret value seeded for these tenants on a node: none may appear in any output. */
export function allSecretValues(node: string, tenants: readonly string[] = ['acme', 'globex']): string[] {
  return tenants.flatMap((t) => REPLAY_SECRETS.map((n) => secretValue(node, t, n)));
}
