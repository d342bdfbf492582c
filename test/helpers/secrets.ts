/** Secret files on fleet nodes, as operators provision them out of band (never from git): 0600, one line. */
import type { FleetNodeHandle } from '../fleet/fleet.js';

/** the secrets tenants-example references (gateway.auth.token and hooks.token) */
export const EXAMPLE_SECRETS = ['token.current', 'hooks.token'] as const;

/** A deterministic secret value per node, tenant and name (high-entropy enough to look like a token). */
export function secretValue(node: string, tenant: string, name: string): string {
  return `tok_${Buffer.from(`${node}/${tenant}/${name}`).toString('base64url')}Zq8vN3xL2pR7`;
}

export async function seedSecrets(node: FleetNodeHandle, tenants: readonly string[], names: readonly string[] = EXAMPLE_SECRETS, mode = '600'): Promise<void> {
  const cmds = tenants.flatMap((t) => [
    `mkdir -p /var/db/openclaw/secrets/${t} && chmod 700 /var/db/openclaw/secrets/${t}`,
    ...names.map((n) => `printf '%s\\n' '${secretValue(node.name, t, n)}' > /var/db/openclaw/secrets/${t}/${n} && chmod ${mode} /var/db/openclaw/secrets/${t}/${n}`),
  ]);
  const r = await node.exec(cmds.join(' && '));
  if (r.code !== 0) throw new Error(`seeding secrets on ${node.name} failed: ${r.stderr}`);
}
