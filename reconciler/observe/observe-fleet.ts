/** Observe many nodes concurrently; one node failing never stops the others. */
import PQueue from 'p-queue';
import type { DesiredState, NodeSpec } from '../desired/types.js';
import { HostKeyError, oneLine, SshError } from '../errors.js';
import { connectNode, type ConnectOptions } from '../transport/connect.js';
import type { Transport } from '../transport/transport.js';
import { expectations, observeNode } from './observe-node.js';
import type { NodeObservation, ObserveResult } from './types.js';

export interface ObserveFleetOptions extends ConnectOptions {
  concurrency?: number;
  /** keep connections open for the caller (apply); otherwise they are closed after observing */
  keepOpen?: boolean;
  /** every node reads everything (observeNode's verify): no kept answer */
  verify?: boolean;
  /** how a node is connected (default connectNode): lets the caller hand over a connection it opened early */
  connect?: (node: NodeSpec) => Promise<Transport>;
  /**
   * a login and observe command the caller started early for this node, still waiting for its stdin (given here:
   * the node's expectations); undefined = connect and observe as usual
   */
  started?: (node: NodeSpec, stdin: string) => { transport: Promise<Transport>; observation: Promise<NodeObservation> } | undefined;
}

export interface FleetObservation {
  results: ObserveResult[];
  /** open transports by node (only with keepOpen) */
  transports: Map<string, Transport>;
  /** remote commands per node, for the one-round-trip contract */
  commands: Record<string, number>;
  /** per node: when (performance.now(), ms since process start) its connect started, its ssh login was done and its observation was parsed */
  timings: Record<string, NodeTiming>;
}

export interface NodeTiming {
  start: number;
  connected?: number;
  observed?: number;
}

export async function observeFleet(desired: DesiredState, nodes: readonly NodeSpec[], opts: ObserveFleetOptions = {}): Promise<FleetObservation> {
  const queue = new PQueue({ concurrency: opts.concurrency ?? desired.settings.concurrency });
  const transports = new Map<string, Transport>();
  const commands: Record<string, number> = {};
  const timings: Record<string, NodeTiming> = {};
  const results = await Promise.all(
    nodes.map((node) =>
      queue.add(async (): Promise<ObserveResult> => {
        let transport: Transport | undefined;
        const timing: NodeTiming = (timings[node.name] = { start: performance.now() });
        try {
          const stdin = expectations(desired, node.tenants);
          const pre = opts.started?.(node, stdin);
          transport = await (pre ? pre.transport : opts.connect ? opts.connect(node) : connectNode(node, desired.settings, opts));
          timing.connected = performance.now();
          const observation = await (pre ? pre.observation : observeNode(transport, desired.settings.paths, stdin, { verify: opts.verify === true }));
          timing.observed = performance.now();
          commands[node.name] = transport.stats.commands;
          if (opts.keepOpen) transports.set(node.name, transport);
          return { node: node.name, ok: true, observation };
        } catch (e) {
          if (transport) commands[node.name] = transport.stats.commands;
          if (e instanceof HostKeyError) return { node: node.name, ok: false, reason: 'HostKeyMismatch', message: oneLine(e) };
          const unreachable = e instanceof SshError && transport === undefined;
          return { node: node.name, ok: false, reason: unreachable ? 'Unreachable' : 'ObserveFailed', message: oneLine(e) };
        } finally {
          if (transport && !opts.keepOpen) await transport.close();
        }
      }) as Promise<ObserveResult>,
    ),
  );
  return { results, transports, commands, timings };
}
