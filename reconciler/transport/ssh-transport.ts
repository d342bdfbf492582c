/**
 * ssh transport: node-ssh (ssh2) with pinned host keys, TCP_NODELAY, connect/command timeouts and keepalive.
 * One connection per node, reused for every command of a pass. There is deliberately no way to skip the host key check.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { NodeSSH } from 'node-ssh';
import type { ClientChannel, SFTPWrapper, Stats } from 'ssh2';
import { HostKeyError, IoError, SshError } from '../errors.js';
import { blobType, fingerprint, hostKeysFor, HostKeyRevokedError, isRevoked, parsePublicKey, readKnownHosts, type PublicKey } from './host-keys.js';
import { DEFAULT_LAUNCH_DAEMONS, type ExecOptions, type ExecResult, type FileOps, type NodePaths, type Transport, type TransportStats } from './transport.js';

export interface SshTarget {
  name: string;
  host: string;
  port: number;
  user: string;
  /** pinned key from nodes.yaml (`ssh-ed25519 AAAA…`) */
  hostKey?: string;
}

export interface SshOptions {
  /** private key file; otherwise the ssh agent ($SSH_AUTH_SOCK) */
  identityFile?: string;
  knownHostsFile?: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveMs: number;
}

/** The keys a node may present, and the ones it may never present (`@revoked` in known_hosts, pin or not). */
interface HostKeyPolicy {
  expected: PublicKey[];
  revoked: PublicKey[];
  /** where the revocations came from, for the message */
  revokedIn: string;
}

function hostKeyPolicy(target: SshTarget, opts: SshOptions): HostKeyPolicy {
  // known_hosts is read even when nodes.yaml pins the key: its @revoked lines apply to every path.
  const known = opts.knownHostsFile ? hostKeysFor(readKnownHosts(opts.knownHostsFile), target.host, target.port) : undefined;
  const revoked = known?.revoked ?? [];
  const revokedIn = opts.knownHostsFile ?? 'known_hosts';
  let pinned: PublicKey[];
  if (target.hostKey) {
    const k = parsePublicKey(target.hostKey);
    if (!k) throw new SshError(target.name, 'host_key in nodes.yaml is not a valid public key line');
    pinned = [k];
  } else if (known) {
    pinned = known.listed;
    if (pinned.length === 0) throw new SshError(target.name, `no host key for ${target.host}:${target.port} in ${opts.knownHostsFile}; refusing to connect to an unknown host`);
  } else {
    throw new SshError(target.name, 'no pinned host key (set host_key in nodes.yaml or ssh.known_hosts in clawops.yaml); refusing to connect to an unknown host');
  }
  const expected = pinned.filter((k) => !isRevoked(k, revoked));
  // Every pinned key revoked: nothing the node could present is acceptable, so do not even connect.
  if (expected.length === 0) throw new HostKeyRevokedError(target.name, pinned[0]!, revokedIn);
  return { expected, revoked, revokedIn };
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port });
    // ssh2 leaves Nagle on: each exec on an open connection then costs ~46 ms instead of ~5 ms.
    sock.setNoDelay(true);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? e.message));
    });
  });
}

export class SshTransport implements Transport {
  readonly node: string;
  readonly stats: TransportStats = { commands: 0, bytesSent: 0, bytesReceived: 0 };
  private readonly ssh = new NodeSSH();
  private closed = false;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  /** set once the connection is gone; every operation in flight is failed with it */
  private gone: string | undefined;
  private readonly pending = new Set<(e: Error) => void>();
  readonly files: FileOps = {
    mkdirp: (p) => this.sftpMkdirp(p),
    writeFile: (p, data, mode) =>
      this.sftpOp('write', p, (s, cb) => {
        this.stats.bytesSent += data.length;
        s.writeFile(p, data, { mode: mode ?? 0o644, flag: 'wx' }, cb);
      }),
    symlink: (target, p) => this.sftpOp('symlink', p, (s, cb) => s.symlink(target, p, cb)),
    // posix-rename@openssh.com is rename(2); plain SFTP RENAME refuses to replace an existing target
    rename: (from, to) => this.sftpOp('rename', to, (s, cb) => s.ext_openssh_rename(from, to, cb)),
    readSmall: async (p, max) => {
      const s = await this.withTimeout(this.sftp(), 'sftp session');
      const st = await this.withTimeout(new Promise<Stats | undefined>((res) => s.lstat(p, (err, x) => res(err ? undefined : x))), `lstat ${p}`);
      if (!st || !st.isFile() || st.size > max) return undefined;
      return this.withTimeout(new Promise<Buffer | undefined>((res) => s.readFile(p, (err, b) => res(err ? undefined : b))), `read ${p}`);
    },
  };

  private constructor(private readonly target: SshTarget, private readonly opts: SshOptions) {
    this.node = target.name;
  }

  static async connect(target: SshTarget, opts: SshOptions): Promise<SshTransport> {
    const t = new SshTransport(target, opts);
    await t.open();
    return t;
  }

  private async open(): Promise<void> {
    const { target, opts } = this;
    const { expected, revoked, revokedIn } = hostKeyPolicy(target, opts);
    let presented: Buffer | undefined;
    let privateKey: string | undefined;
    if (opts.identityFile) {
      try {
        privateKey = readFileSync(opts.identityFile, 'utf8');
      } catch (e) {
        throw new IoError(`${opts.identityFile}: cannot read ssh identity (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    let sock: Socket;
    try {
      sock = await tcpConnect(target.host, target.port, opts.connectTimeoutMs);
    } catch (e) {
      throw new SshError(target.name, `connect to ${target.host}:${target.port} failed: ${(e as Error).message}`);
    }
    try {
      await this.ssh.connect({
        sock,
        host: target.host,
        port: target.port,
        username: target.user,
        ...(privateKey !== undefined ? { privateKey } : { agent: process.env.SSH_AUTH_SOCK }),
        readyTimeout: opts.connectTimeoutMs,
        keepaliveInterval: opts.keepaliveMs,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer): boolean => {
          presented = key;
          return !isRevoked(key, revoked) && expected.some((k) => k.blob.equals(key));
        },
      });
    } catch (e) {
      sock.destroy();
      if (presented && isRevoked(presented, revoked)) throw new HostKeyRevokedError(target.name, presented, revokedIn);
      if (presented && !expected.some((k) => k.blob.equals(presented!))) {
        const exp = expected.map((k) => `${k.type} ${fingerprint(k.blob)}`).join(' or ');
        throw new HostKeyError(target.name, exp, `${blobType(presented)} ${fingerprint(presented)}`);
      }
      const msg = (e as Error).message;
      if (/authentication methods failed/i.test(msg)) throw new SshError(target.name, `ssh login as ${target.user} refused (check the identity and authorized_keys)`);
      throw new SshError(target.name, `ssh to ${target.host}:${target.port} failed: ${msg.split('\n')[0]}`);
    }
    // A dropped connection must fail the commands in flight, not hang them.
    this.ssh.connection?.on('error', () => undefined);
    const onGone = (): void => {
      if (this.gone) return;
      this.gone = 'the connection to the node was closed';
      for (const fail of this.pending) fail(new SshError(this.node, this.gone));
      this.pending.clear();
    };
    this.ssh.connection?.on('close', onGone);
    this.ssh.connection?.on('end', onGone);
  }

  paths(configured: { etc: string; var_db: string; launch_daemons?: string }): NodePaths {
    return { etc: configured.etc, varDb: configured.var_db, launchDaemons: configured.launch_daemons ?? DEFAULT_LAUNCH_DAEMONS };
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const conn = this.ssh.connection;
    if (!conn || this.closed) return Promise.reject(new SshError(this.node, 'not connected'));
    const timeoutMs = opts.timeoutMs ?? this.opts.commandTimeoutMs;
    if (this.gone) return Promise.reject(new SshError(this.node, this.gone));
    this.stats.commands++;
    return this.tracked(new Promise((resolve, reject) => {
      let opened: ClientChannel | undefined;
      let done = false;
      const errs: Buffer[] = [];
      // the timer covers opening the channel too: on a connection that died without a FIN the callback never comes
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        if (opened) {
          try {
            opened.signal('KILL');
          } catch {
            /* the server may not support signals; closing the channel hangs up the command */
          }
          opened.close();
        }
        reject(new SshError(this.node, `command timed out after ${Math.round(timeoutMs / 1000)} s`, { stderr: Buffer.concat(errs).toString('utf8') }));
      }, timeoutMs);
      conn.exec(command, (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          clearTimeout(timer);
          if (!done) reject(new SshError(this.node, `exec failed: ${err.message}`));
          done = true;
          return;
        }
        if (done) {
          channel.close();
          return;
        }
        opened = channel;
        const out: Buffer[] = [];
        let code: number | null = null;
        let signal: string | null = null;
        channel.on('data', (d: Buffer) => {
          out.push(d);
          this.stats.bytesReceived += d.length;
        });
        channel.stderr.on('data', (d: Buffer) => {
          errs.push(d);
          this.stats.bytesReceived += d.length;
        });
        channel.on('exit', (c: number | null, s?: string) => {
          code = c;
          signal = s ?? null;
        });
        channel.on('close', () => {
          clearTimeout(timer);
          if (done) return;
          done = true;
          resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errs).toString('utf8'), code, signal });
        });
        const send = (stdin: string | Buffer | undefined): void => {
          if (stdin === undefined) return void channel.end();
          const buf = typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
          this.stats.bytesSent += buf.length;
          channel.end(buf);
        };
        if (opts.stdin instanceof Promise) {
          opts.stdin.then(
            (v) => !done && send(v),
            () => !done && send(undefined),
          );
        } else {
          send(opts.stdin);
        }
      });
    }));
  }

  private sftp(): Promise<SFTPWrapper> {
    if (this.closed || !this.ssh.connection) return Promise.reject(new SshError(this.node, 'not connected'));
    this.sftpSession ??= this.ssh.requestSFTP().catch((e: Error) => {
      this.sftpSession = undefined;
      throw new SshError(this.node, `sftp session refused: ${e.message}`);
    });
    return this.sftpSession;
  }

  private async sftpOp(op: string, path: string, run: (s: SFTPWrapper, cb: (err: Error | null | undefined) => void) => void): Promise<void> {
    const s = await this.withTimeout(this.sftp(), 'sftp session');
    await this.withTimeout(
      new Promise<void>((resolve, reject) => {
        run(s, (err) => (err ? reject(new SshError(this.node, `${op} ${path}: ${sftpReason(err)}`)) : resolve()));
      }),
      `${op} ${path}`,
    );
  }

  /** Fail `p` at once when the connection goes away. */
  private tracked<T>(p: Promise<T>): Promise<T> {
    if (this.gone) {
      // (p is dropped: its own failure must not surface as an unhandled rejection)
      p.catch(() => undefined);
      return Promise.reject(new SshError(this.node, this.gone));
    }
    let fail: ((e: Error) => void) | undefined;
    const gone = new Promise<never>((_, reject) => {
      fail = reject;
      this.pending.add(reject);
    });
    return Promise.race([p, gone]).finally(() => this.pending.delete(fail!));
  }

  /** An SFTP request on a connection that died silently never answers: give up after the command timeout. */
  private withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.opts.commandTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SshError(this.node, `${what}: no answer after ${Math.round(ms / 1000)} s`)), ms);
    });
    return this.tracked(Promise.race([p, t]).finally(() => clearTimeout(timer)));
  }

  private async sftpMkdirp(path: string): Promise<void> {
    const s = await this.sftp();
    const exists = (p: string): Promise<boolean> => new Promise((res) => s.stat(p, (err, st) => res(!err && st.isDirectory())));
    const parts = path.split('/').filter(Boolean);
    let cur = path.startsWith('/') ? '' : '.';
    for (const part of parts) {
      cur = `${cur}/${part}`;
      if (await exists(cur)) continue;
      const p = cur;
      await new Promise<void>((resolve, reject) =>
        s.mkdir(p, { mode: 0o755 }, (err) => (err && !/exist/i.test(err.message) ? reject(new SshError(this.node, `mkdir ${p}: ${sftpReason(err)}`)) : resolve())),
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ssh.dispose();
  }
}

/** SFTP status errors carry a code; "Failure" is what sftp-server says for ENOSPC, EDQUOT and friends. */
function sftpReason(err: Error): string {
  const code = (err as Error & { code?: number | string }).code;
  const names: Record<number, string> = { 2: 'no such file', 3: 'permission denied', 4: 'failure (disk full or I/O error)' };
  return typeof code === 'number' && names[code] ? `${names[code]}${err.message && !/^Failure$/i.test(err.message) ? ` (${err.message})` : ''}` : err.message;
}
