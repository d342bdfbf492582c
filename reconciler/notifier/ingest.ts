/**
 * NDJSON over a UNIX socket. Each connection has its own line buffer; lines are split on the byte 0x0a (UTF-8 never
 * uses it inside a multi-byte character) and handed to `onLine` synchronously, so one connection can never hold
 * another up: a client that never sends a newline only fills its own buffer, which is capped at `maxLineBytes`
 * (the rest of that line is skipped and the line counts as one oversize line). Nothing is ever written back.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { IoError } from '../errors.js';

export interface IngestOptions {
  socketPath: string;
  /** a line longer than this (bytes, without the newline) is dropped; default 16 KiB (a valid line is < 3 KiB) */
  maxLineBytes?: number;
  /** default 1024 concurrent connections */
  maxConnections?: number;
  /**
   * A connection that sends nothing for this long is closed (default 10 min), so stalled or abandoned clients cannot
   * hold every connection slot; gateways reconnect when they next have a failure to report. 0 disables.
   */
  idleTimeoutMs?: number;
  onLine: (line: string) => void;
  onOversize: () => void;
  onConnectionError?: (err: Error) => void;
}

export interface IngestHandle {
  readonly socketPath: string;
  connections(): number;
  /** Stop accepting, drop open connections (their unterminated lines are discarded), remove the socket file. */
  close(): Promise<void>;
}

export const SOCKET_MODE = 0o660;
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;

/**
 * A socket file left by a crashed run is replaced; one that still answers belongs to a live notifier and is an
 * error, and a path that is not a socket at all is never deleted.
 */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new IoError(`socket ${socketPath}: ${(e as Error).message}`);
  }
  if (!isSocket) throw new IoError(`socket ${socketPath}: exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new IoError(`socket ${socketPath}: another notifier is listening on it`);
  try {
    unlinkSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new IoError(`socket ${socketPath}: cannot remove stale socket: ${(e as Error).message}`);
  }
}

export async function startIngest(opts: IngestOptions): Promise<IngestHandle> {
  const maxLine = opts.maxLineBytes ?? 16 * 1024;
  const idle = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  await prepareSocketPath(opts.socketPath);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: false }, (sock) => {
    sockets.add(sock);
    if (idle > 0) sock.setTimeout(idle, () => sock.destroy());
    const reader = new LineReader(maxLine, opts.onLine, opts.onOversize);
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
    sock.on('end', () => reader.end());
    sock.on('error', (err) => {
      opts.onConnectionError?.(err);
      sock.destroy();
    });
    sock.on('close', () => sockets.delete(sock));
  });
  server.maxConnections = opts.maxConnections ?? 1024;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new IoError(`socket ${opts.socketPath}: ${e.message}`)));
    server.listen(opts.socketPath, () => resolve());
  });
  // listen() creates the file with the umask's mode; 0660 lets the gateways' group write to it and nobody else
  try {
    chmodSync(opts.socketPath, SOCKET_MODE);
  } catch (e) {
    server.close();
    throw new IoError(`socket ${opts.socketPath}: chmod: ${(e as Error).message}`);
  }
  return {
    socketPath: opts.socketPath,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        // libuv unlinks the socket file when the server closes
        server.close(() => resolve());
      }),
  };
}

/** Per-connection line splitting with a hard cap on what one unterminated line may buffer. */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  /** inside a line that already exceeded the cap: skip bytes until the next newline */
  private skipping = false;

  constructor(
    private readonly maxLine: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversize: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.buffer(chunk, start, chunk.length);
        return;
      }
      if (this.skipping) {
        this.skipping = false;
      } else if (this.size + (nl - start) > this.maxLine) {
        this.reset();
        this.onOversize();
      } else {
        let line: Buffer;
        if (this.size === 0) line = chunk.subarray(start, nl);
        else {
          this.parts.push(chunk.subarray(start, nl));
          line = Buffer.concat(this.parts, this.size + (nl - start));
        }
        this.reset();
        this.emit(line);
      }
      start = nl + 1;
    }
  }

  /** The peer closed: a final line without a newline still counts (what `nc` and `printf` send). */
  end(): void {
    if (this.skipping || this.size === 0) {
      this.reset();
      this.skipping = false;
      return;
    }
    const line = Buffer.concat(this.parts, this.size);
    this.reset();
    this.emit(line);
  }

  private buffer(chunk: Buffer, from: number, to: number): void {
    if (this.skipping || from === to) return;
    if (this.size + (to - from) > this.maxLine) {
      this.reset();
      this.skipping = true;
      this.onOversize();
      return;
    }
    // copy: the chunk's memory belongs to the socket and may be pooled
    this.parts.push(Buffer.from(chunk.subarray(from, to)));
    this.size += to - from;
  }

  private emit(line: Buffer): void {
    let n = line.length;
    if (n > 0 && line[n - 1] === 0x0d) n--; // tolerate CRLF
    if (n === 0) return; // blank lines are keep-alives, not errors
    this.onLine(line.toString('utf8', 0, n));
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
  }
}
