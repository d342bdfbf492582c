/**
 * A loopback port free at the time of asking, drawn at random from a range chosen so that nothing else the tests start
 * is told to use it (the kernel's own pick, listen on 0, only when the range is full or too narrow).
 *   - freePort: a test's own listener (a local node's gateway, a hostile server): 2000-9799, below the fleet's sshd
 *     ports (10000-18699, test/fleet/fleet.ts), below every gateway port of the fleets and local nodes of other test
 *     files running meanwhile (18789 + a port block's offset, 1000-40000) and below the kernel's ephemeral range
 *     (32768+), where the kernel's pick landed before: on a port another test's gateway could be told to use.
 *   - freePortIn: any other range (the fleet's sshd ports).
 */
import { createServer, type Server, type Socket } from 'node:net';

// ends 200 below the sshd ports: a gateway derives ports up to its own + 110, a probe listens on + 115
const RANGE: [number, number] = [2000, 9800];

function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(undefined));
    s.listen(port, host, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : undefined));
    });
  });
}

/** A free port in [min, max) on host: 20 random tries when the range is over 1000 wide, then the kernel's pick. */
export async function freePortIn(min: number, max: number, host = '127.0.0.1'): Promise<number> {
  if (max - min > 1000) {
    for (let i = 0; i < 20; i++) {
      const got = await tryListen(min + Math.floor(Math.random() * (max - min)), host);
      if (got !== undefined) return got;
    }
  }
  const any = await tryListen(0, host);
  if (any === undefined) throw new Error('could not pick a free port');
  return any;
}

export function freePort(): Promise<number> {
  return freePortIn(RANGE[0], RANGE[1]);
}

/**
 * A loopback port of freePort's range held by a listener of the test's own (`onConnection` for each connection): no
 * window between picking the port and listening on it, where a test file running meanwhile could take it.
 */
export async function holdPort(onConnection: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  for (let i = 0; i < 20; i++) {
    const port = RANGE[0] + Math.floor(Math.random() * (RANGE[1] - RANGE[0]));
    const server = createServer(onConnection);
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { server, port };
  }
  throw new Error('could not hold a free port');
}
