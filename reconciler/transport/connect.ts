/** Pick and open the transport a node's inventory entry asks for. */
import { homedir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeSpec, Settings } from '../desired/types.js';
import { UsageError } from '../errors.js';
import { LocalTransport } from './local-transport.js';
import { SshTransport } from './ssh-transport.js';
import type { Transport } from './transport.js';

export interface ConnectOptions {
  /** private key for ssh (else $CLAWOPS_SSH_IDENTITY, ~/.ssh/id_ed25519, then the agent) */
  identityFile?: string;
  knownHostsFile?: string;
  /** base directory against which relative `root:` entries of local nodes resolve (the repo dir) */
  localBase?: string;
}

export function defaultIdentity(): string | undefined {
  if (process.env.CLAWOPS_SSH_IDENTITY) return process.env.CLAWOPS_SSH_IDENTITY;
  const ed = join(homedir(), '.ssh', 'id_ed25519');
  return existsSync(ed) ? ed : undefined;
}

export async function connectNode(node: NodeSpec, settings: Settings, opts: ConnectOptions = {}): Promise<Transport> {
  if (node.transport === 'local') {
    if (!node.root) throw new UsageError(`nodes.yaml: node "${node.name}" uses transport local but has no root`);
    const root = node.root.startsWith('/') ? node.root : join(opts.localBase ?? process.cwd(), node.root);
    return new LocalTransport(node.name, root, settings.ssh.command_timeout_ms);
  }
  const identityFile = opts.identityFile ?? defaultIdentity();
  const knownHostsFile = opts.knownHostsFile ?? settings.ssh.known_hosts;
  return SshTransport.connect(
    { name: node.name, host: node.host, port: node.port, user: node.user, ...(node.host_key ? { hostKey: node.host_key } : {}) },
    {
      ...(identityFile ? { identityFile } : {}),
      ...(knownHostsFile ? { knownHostsFile } : {}),
      connectTimeoutMs: settings.ssh.connect_timeout_ms,
      commandTimeoutMs: settings.ssh.command_timeout_ms,
      keepaliveMs: settings.ssh.keepalive_ms,
    },
  );
}
