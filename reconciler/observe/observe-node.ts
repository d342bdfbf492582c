/** Observe one node in exactly one remote command. */
import { SshError } from '../errors.js';
import { shQuote, type Transport } from '../transport/transport.js';
import type { DesiredState } from '../desired/types.js';
import { OBSERVE_SCRIPT } from './observe-script.js';
import { parseObservation } from './parse-observation.js';
import type { Reparser } from './reparse.js';
import type { NodeObservation } from './types.js';

/**
 * What the planner expects on this node, as the observe script's stdin. `full`: every file of every current release
 * one by one, even of tenants in sync (by default such a tenant is one summary record: observe-script.ts).
 */
export function expectations(desired: Pick<DesiredState, 'tenants'>, tenants: readonly string[], opts: { full?: boolean } = {}): string {
  const lines: string[] = opts.full ? ['O\tfull'] : [];
  for (const t of tenants) {
    lines.push(`T\t${t}`);
    for (const f of desired.tenants.get(t)?.files ?? []) lines.push(`F\t${t}\t${f.path}\t${f.sha256}`);
    for (const name of desired.tenants.get(t)?.secretRefs ?? []) lines.push(`S\t${t}\t${name}`);
  }
  return `${lines.join('\n')}\n`;
}

/** the script quoted once per process, not once per node and pass */
const QUOTED_SCRIPT = shQuote(OBSERVE_SCRIPT);

/**
 * `stdin` (expectations()) may be a promise: the script starts at once and does what does not need it first.
 * `verify`: read everything on the node, never the answer it kept from its last full observe (specs/on-node-layout.md).
 * `reparser`: the node's kept answer, unchanged since the last call, is not parsed again in full (reparse.ts).
 */
export async function observeNode(transport: Transport, paths: { etc: string; var_db: string }, stdin: string | Promise<string>, opts: { verify?: boolean; reparser?: Reparser } = {}): Promise<NodeObservation> {
  const p = transport.paths(paths);
  const started = performance.now();
  const before = transport.stats.commands;
  const cmd = `${p.binDir ? `PATH=${shQuote(p.binDir)}:"$PATH" ` : ''}sh -c ${QUOTED_SCRIPT} clawops-observe ${shQuote(p.etc)} ${shQuote(p.varDb)} ${shQuote(p.launchDaemons)}${opts.verify ? ' verify' : ''}`;
  const res = await transport.exec(cmd, { stdin });
  if (res.code !== 0) {
    throw new SshError(transport.node, `observe script failed (exit ${String(res.code)}): ${res.stderr.trim().split('\n')[0] ?? ''}`, { code: res.code, signal: res.signal, stderr: res.stderr });
  }
  try {
    const meta = { commands: transport.stats.commands - before, durationMs: Math.round(performance.now() - started) };
    const expected = await stdin;
    return opts.reparser ? opts.reparser.parse(transport.node, res.stdout, meta, expected) : parseObservation(transport.node, res.stdout, meta, expected);
  } catch (e) {
    opts.reparser?.forget(transport.node);
    throw new SshError(transport.node, `observe printed unreadable output: ${(e as Error).message}`);
  }
}
