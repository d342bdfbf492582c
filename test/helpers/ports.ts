/**
 * A loopback port free at the time of asking, for a test's own listener (a local node's gateway, a hostile server).
 * Drawn from 2000-9799: below the fleet's sshd ports (10000-18699, test/fleet/fleet.ts), below every gateway port of the
 * fleets and local nodes of other test files running meanwhile (18789 + a port block's offset, 1000-40000) and below
 * the kernel's ephemeral range (32768+), where the kernel's own pick (listen on 0) landed before: on a port that
 * another test's gateway could be told to use a moment later. The kernel's pick only when that range is full.
 */
import { createServer } from 'node:net';

// ends 200 below the sshd ports: a gateway derives ports up to its own + 110, a probe listens on + 115
const RANGE: [number, number] = [2000, 9800];

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : undefined));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const got = await tryListen(RANGE[0] + Math.floor(Math.random() * (RANGE[1] - RANGE[0])));
    if (got !== undefined) return got;
  }
  const any = await tryListen(0);
  if (any === undefined) throw new Error('could not pick a free port');
  return any;
}
