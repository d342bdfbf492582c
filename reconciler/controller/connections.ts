/**
 * Connections kept open between passes (one per node, host keys pinned as everywhere): a steady pass costs one
 * remote command per node and no logins. A connection that failed is dropped and made again on the next use.
 */
import type { DesiredState, NodeSpec, Settings } from '../desired/types.js';
import { HostKeyError, oneLine, SshError } from '../errors.js';
import { expectations, observeNode } from '../observe/observe-node.js';
import type { ObserveResult } from '../observe/types.js';
import { connectNode, type ConnectOptions } from '../transport/connect.js';
import type { Transport } from '../transport/transport.js';

/** what a connection was made for: a changed inventory entry (host, port, key…) means a new connection */
function identity(node: NodeSpec): string {
  return JSON.stringify([node.transport, node.host, node.port, node.user, node.host_key ?? '', node.root ?? '']);
}

export class ConnectionPool {
  private readonly open = new Map<string, { t: Transport; id: string }>();

  constructor(private readonly opts: ConnectOptions) {}

  async get(node: NodeSpec, settings: Settings): Promise<Transport> {
    const have = this.open.get(node.name);
    if (have && have.id === identity(node)) return have.t;
    if (have) await this.drop(node.name);
    const t = await connectNode(node, settings, this.opts);
    this.open.set(node.name, { t, id: identity(node) });
    return t;
  }

  /** A fresh connection that is not pooled (apply's dead-man guard confirmation needs a NEW one). */
  fresh(node: NodeSpec, settings: Settings): Promise<Transport> {
    return connectNode(node, settings, this.opts);
  }

  peek(name: string): Transport | undefined {
    return this.open.get(name)?.t;
  }

  async drop(name: string): Promise<void> {
    const have = this.open.get(name);
    this.open.delete(name);
    await have?.t.close().catch(() => undefined);
  }

  /** Close connections of nodes no longer in the inventory. */
  async retain(names: ReadonlySet<string>): Promise<void> {
    for (const n of [...this.open.keys()]) if (!names.has(n)) await this.drop(n);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open.keys()].map((n) => this.drop(n)));
  }

  /**
   * Observe one node in one remote command over its pooled connection; on a failure of an old connection, one more
   * try on a new one (it may have died between passes). Results are classified as observeFleet classifies them.
   */
  async observe(node: NodeSpec, desired: DesiredState): Promise<ObserveResult> {
    const stdin = expectations(desired, node.tenants);
    for (let attempt = 0; ; attempt++) {
      const reused = this.open.get(node.name)?.id === identity(node);
      let t: Transport | undefined;
      try {
        t = await this.get(node, desired.settings);
        const observation = await observeNode(t, desired.settings.paths, stdin);
        return { node: node.name, ok: true, observation };
      } catch (e) {
        await this.drop(node.name);
        if (e instanceof HostKeyError) return { node: node.name, ok: false, reason: 'HostKeyMismatch', message: oneLine(e) };
        if (reused && attempt === 0 && e instanceof SshError) continue;
        const unreachable = e instanceof SshError && t === undefined;
        return { node: node.name, ok: false, reason: unreachable ? 'Unreachable' : 'ObserveFailed', message: oneLine(e) };
      }
    }
  }
}
