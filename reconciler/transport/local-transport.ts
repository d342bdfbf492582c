/**
 * local transport: a node is a directory on this machine standing for its `/` (the demo, no root or ssh needed).
 * Commands run under /bin/sh with the node's paths substituted and `<root>/usr/local/bin` first on PATH.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SshError } from '../errors.js';
import { openclawEnv } from '../openclaw-cli.js';
import { DEFAULT_LAUNCH_DAEMONS, type ExecOptions, type ExecResult, type FileOps, type NodePaths, type Transport, type TransportStats } from './transport.js';

export class LocalTransport implements Transport {
  readonly stats: TransportStats = { commands: 0, bytesSent: 0, bytesReceived: 0 };
  readonly files: FileOps;
  constructor(readonly node: string, private readonly root: string, private readonly commandTimeoutMs = 60_000) {
    const fail = (op: string, path: string) => (e: NodeJS.ErrnoException): never => {
      throw new SshError(this.node, `${op} ${path}: ${e.code ?? e.message}`);
    };
    this.files = {
      mkdirp: (p) => mkdir(p, { recursive: true }).then(() => undefined, fail('mkdir', p)),
      writeFile: (p, data, mode) => {
        this.stats.bytesSent += data.length;
        return writeFile(p, data, { mode: mode ?? 0o644, flag: 'wx' }).catch(fail('write', p));
      },
      symlink: (target, p) => symlink(target, p).catch(fail('symlink', p)),
      rename: (from, to) => rename(from, to).catch(fail('rename', to)),
      readSmall: async (p, max) => {
        const st = await lstat(p).catch(() => undefined);
        if (!st || !st.isFile() || st.size > max) return undefined;
        return readFile(p).catch(() => undefined);
      },
    };
  }

  paths(configured: { etc: string; var_db: string; launch_daemons?: string }): NodePaths {
    return { etc: join(this.root, configured.etc), varDb: join(this.root, configured.var_db), launchDaemons: join(this.root, configured.launch_daemons ?? DEFAULT_LAUNCH_DAEMONS), binDir: join(this.root, 'usr/local/bin') };
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.commands++;
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      // a node's commands never see this process's test-runner variables (OpenClaw goes silent under VITEST)
      const env = { ...openclawEnv(process.env), PATH: `${join(this.root, 'usr/local/bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
      const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        out.push(d);
        this.stats.bytesReceived += d.length;
      });
      child.stderr.on('data', (d: Buffer) => {
        errs.push(d);
        this.stats.bytesReceived += d.length;
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new SshError(this.node, `cannot run /bin/sh: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) reject(new SshError(this.node, `command timed out after ${Math.round(timeoutMs / 1000)} s`));
        else resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errs).toString('utf8'), code, signal });
      });
      child.stdin.on('error', () => undefined); // a command that exits without reading stdin is not an error
      const send = (stdin: string | Buffer | undefined): void => {
        const buf = stdin === undefined ? undefined : typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
        if (buf) this.stats.bytesSent += buf.length;
        child.stdin.end(buf);
      };
      if (opts.stdin instanceof Promise) opts.stdin.then(send, () => send(undefined));
      else send(opts.stdin);
    });
  }

  async close(): Promise<void> {}
}
