/** ssh to test fleet nodes, and bytes on the wire to and from them. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { Fleet, FleetNodeHandle } from '../../test/fleet/fleet.js';
import { pool, run, shq } from './proc.js';

/** The ssh command line (for rsync -e, sh -c) that logs in to `node` as the fleet's client. */
export function sshCommand(fleet: Fleet, node: FleetNodeHandle): string {
  return [
    'ssh',
    '-i', shq(fleet.clientKeyPath),
    '-o', `UserKnownHostsFile=${shq(fleet.knownHostsPath)}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-p', String(node.port),
  ].join(' ');
}

/** A fresh ssh login running `true` on every node, `parallel` at a time: the floor for any ssh-based tool. Seconds. */
export async function sshFloor(fleet: Fleet, parallel: number): Promise<number> {
  const t0 = performance.now();
  const rs = await pool(
    parallel,
    fleet.nodes.map((node) => () => run('sh', ['-c', `${sshCommand(fleet, node)} ${node.user}@${node.host} true`])),
  );
  if (rs.some((r) => r.code !== 0)) throw new Error(`ssh true failed: ${rs.find((r) => r.code !== 0)?.stderr.trim()}`);
  return (performance.now() - t0) / 1000;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WireCount {
  /** bytes clients sent to the nodes (TCP payload: ssh key exchange, auth, command lines, stdin, SFTP; encrypted) */
  sent: number;
  /** bytes the nodes sent back */
  received: number;
  /** connections to the nodes that ended */
  connections: number;
  perNode: Map<string, number>;
}

/**
 * Bytes on the wire to and from the fleet's sshds, per TCP connection, from the kernel: `ss -E -tin` prints every
 * TCP socket as it is destroyed, with its tcp_info (bytes_received, bytes_acked). The node side of each connection
 * (local port = a node's sshd port) counts what the client sent it, whatever the client is (ssh2 in clawops, OpenSSH
 * under Ansible). Only connections that have ended are counted: `since()` waits for the ones to the fleet to end.
 */
export class WireBytes {
  private readonly child: ChildProcess;
  private readonly events: { port: number; received: number; acked: number }[] = [];
  private buf = '';
  private readonly ports: Map<number, string>;

  constructor(private readonly fleet: Fleet) {
    this.ports = new Map(fleet.nodes.map((n) => [n.port, n.name]));
    // ss block-buffers when its stdout is a pipe: line-buffer it
    this.child = spawn('stdbuf', ['-oL', 'ss', '-E', '-t', '-i', '-n', '-H'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child.stdout!.setEncoding('utf8');
    let header: RegExpMatchArray | null = null;
    this.child.stdout!.on('data', (d: string) => {
      this.buf += d;
      const lines = this.buf.split('\n');
      this.buf = lines.pop() ?? '';
      for (const line of lines) {
        if (!/^\s/.test(line)) {
          header = line.match(/^\S+\s+\d+\s+\d+\s+\S+:(\d+)\s+\S+:(\d+)/);
          continue;
        }
        if (!header) continue;
        const port = Number(header[1]);
        header = null;
        if (!this.ports.has(port)) continue;
        const rx = line.match(/bytes_received:(\d+)/);
        const tx = line.match(/bytes_acked:(\d+)/);
        if (!rx) continue;
        this.events.push({ port, received: Number(rx[1]), acked: tx ? Number(tx[1]) : 0 });
      }
    });
  }

  /** Wait until `ss -E` is listening (it prints nothing until a socket goes away): open and close one connection. */
  async ready(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const n0 = this.events.length;
      const n = this.fleet.nodes[0]!;
      await new Promise<void>((res) => {
        const s = connect(n.port, n.host, () => s.end());
        s.resume(); // read sshd's banner, or 'close' never comes
        s.on('close', () => res());
        s.on('error', () => res());
      });
      await sleep(100);
      if (this.events.length > n0) return;
    }
    throw new Error('ss -E reports no socket events');
  }

  mark(): number {
    return this.events.length;
  }

  /** What connections to the fleet opened after `mark` sent, once none is open any more (or after `waitMs`). */
  async since(mark: number, waitMs = 10_000): Promise<WireCount> {
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && this.openToFleet() > 0) await sleep(50);
    await sleep(200); // the last destroy events in flight
    const perNode = new Map<string, number>();
    let sent = 0;
    let received = 0;
    const evs = this.events.slice(mark);
    for (const e of evs) {
      sent += e.received;
      received += e.acked;
      const name = this.ports.get(e.port)!;
      perNode.set(name, (perNode.get(name) ?? 0) + e.received);
    }
    return { sent, received, connections: evs.length, perNode };
  }

  private openToFleet(): number {
    const r = spawnSync('ss', ['-t', '-n', '-H', 'state', 'established'], { encoding: 'utf8' });
    let open = 0;
    for (const line of r.stdout.split('\n')) {
      const m = line.match(/^\s*\d+\s+\d+\s+\S+:(\d+)\s/);
      if (m && this.ports.has(Number(m[1]))) open++;
    }
    return open;
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}
