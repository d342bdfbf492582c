/**
 * One interface for reaching a node. `ssh` is production; `local` maps a node onto a directory on this machine
 * (the demo). Everything above this layer speaks only this interface.
 */

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  /**
   * bytes written to the command's stdin, then EOF. A promise: the command starts at once and its stdin follows when
   * the promise settles (nothing, just EOF, if it rejects), so the node can do what does not need it meanwhile.
   */
  stdin?: string | Buffer | Promise<string | Buffer>;
  /** kill the command (and fail) after this long */
  timeoutMs?: number;
}

export interface TransportStats {
  /** remote commands started (the observe contract is one per node per pass) */
  commands: number;
  bytesSent: number;
  bytesReceived: number;
}

/** Where the production paths live as seen by commands run through this transport. */
export interface NodePaths {
  etc: string;
  varDb: string;
  /** where launchd unit plists are installed (/Library/LaunchDaemons) */
  launchDaemons: string;
  /** prepended to PATH for commands (local transport: <root>/usr/local/bin) */
  binDir?: string;
}

export interface Transport {
  readonly node: string;
  readonly stats: TransportStats;
  /** map the configured production paths onto this node */
  paths(configured: { etc: string; var_db: string; launch_daemons?: string }): NodePaths;
  /** run a POSIX sh command line on the node */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** file operations for staging and swaps (SFTP on ssh); paths are as returned by paths() */
  readonly files: FileOps;
  close(): Promise<void>;
}

/**
 * The few file operations apply needs. Failures throw SshError naming the node and path.
 * `rename` is rename(2): it atomically replaces `to` (a file or a symlink, never following it).
 */
export interface FileOps {
  /** create a directory and its missing parents */
  mkdirp(path: string): Promise<void>;
  /**
   * create `path` afresh with `data` (O_CREAT|O_EXCL): fails when anything is there already, a symlink included, so
   * nothing is ever written through a link planted at the name
   */
  writeFile(path: string, data: Buffer, mode?: number): Promise<void>;
  /** create a symlink at `path` pointing to `target` (verbatim, usually relative) */
  symlink(target: string, path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /**
   * The bytes of `path` when it is a regular file (lstat: never through a link, never a FIFO) of at most `max` bytes;
   * undefined when it is absent or anything else
   */
  readSmall(path: string, max: number): Promise<Buffer | undefined>;
}

export const DEFAULT_LAUNCH_DAEMONS = '/Library/LaunchDaemons';

/** Quote one argument for POSIX sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
