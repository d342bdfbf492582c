/** Host key pinning: parse inventory keys and known_hosts, compute OpenSSH-style fingerprints. */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HostKeyError, IoError } from '../errors.js';

export interface PublicKey {
  type: string;
  /** the raw key blob (what the server sends) */
  blob: Buffer;
}

export function parsePublicKey(line: string): PublicKey | undefined {
  const m = /^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa|ssh-dss|sk-\S+)\s+([A-Za-z0-9+/]+={0,3})(\s|$)/.exec(line.trim());
  if (!m) return undefined;
  return { type: m[1]!, blob: Buffer.from(m[2]!, 'base64') };
}

/** `SHA256:…` exactly as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH key blob (string length + string). */
export function blobType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** One usable line of a known_hosts file. */
export interface KnownHostsEntry {
  /** `@revoked` or `@cert-authority`; undefined for a plain line */
  marker?: 'revoked' | 'cert-authority';
  /** the host field: a comma-separated pattern list, or one hashed `|1|salt|hash` name */
  hosts: string;
  key: PublicKey;
  /** 1-based, for messages */
  line: number;
}

/**
 * The lines of a known_hosts file as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" reads them: an optional marker, the host
 * field, the key. Comments, blank lines, unknown markers and lines without a parseable key are skipped, as OpenSSH does.
 */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    let rest = raw.trim();
    if (rest === '' || rest.startsWith('#')) return;
    let marker: KnownHostsEntry['marker'];
    if (rest.startsWith('@')) {
      const m = /^@(\S+)\s+/.exec(rest);
      if (!m || (m[1] !== 'revoked' && m[1] !== 'cert-authority')) return;
      marker = m[1];
      rest = rest.slice(m[0].length);
    }
    const m = /^(\S+)\s+(.*)$/.exec(rest);
    if (!m) return;
    const key = parsePublicKey(m[2]!);
    if (!key) return;
    out.push({ ...(marker ? { marker } : {}), hosts: m[1]!, key, line: i + 1 });
  });
  return out;
}

export function readKnownHosts(file: string): KnownHostsEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new IoError(`${file}: cannot read known_hosts (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseKnownHosts(text);
}

/**
 * The node presented (or the inventory pins) a key that known_hosts marks `@revoked`. OpenSSH refuses such a key
 * whatever else lists it, and so do we: a pin in nodes.yaml does not override a revocation.
 */
export class HostKeyRevokedError extends HostKeyError {
  constructor(node: string, key: PublicKey | Buffer, file: string) {
    const blob = Buffer.isBuffer(key) ? key : key.blob;
    super(node, '', '');
    this.message = `${node}: host key ${blobType(blob)} ${fingerprint(blob)} is revoked (@revoked in ${file}); refusing to connect`;
  }
}

/** The name ssh looks a host up by: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** What a known_hosts file says about one host: the keys it accepts and the keys it revokes. */
export interface HostKeysFor {
  /** every plain line for the host */
  listed: PublicKey[];
  /** plain lines for the host, revoked keys taken out */
  accepted: PublicKey[];
  /** `@revoked` lines whose host field matches the host (`*` included) */
  revoked: PublicKey[];
}

export function hostKeysFor(entries: readonly KnownHostsEntry[], host: string, port: number): HostKeysFor {
  const name = knownHostsName(host, port);
  const revoked = entries.filter((e) => e.marker === 'revoked' && hostMatches(e.hosts, name)).map((e) => e.key);
  // @cert-authority lines hold CA keys: never a pin for the host itself.
  const listed = entries.filter((e) => e.marker === undefined && hostMatches(e.hosts, name)).map((e) => e.key);
  return { listed, accepted: listed.filter((k) => !isRevoked(k, revoked)), revoked };
}

export function isRevoked(key: PublicKey | Buffer, revoked: readonly PublicKey[]): boolean {
  const blob = Buffer.isBuffer(key) ? key : key.blob;
  return revoked.some((r) => r.blob.equals(blob));
}

/** Keys listed for host:port in a known_hosts file (plain or hashed entries, host patterns; @revoked keys excluded). */
export function knownHostKeys(file: string, host: string, port: number): PublicKey[] {
  return hostKeysFor(readKnownHosts(file), host, port).accepted;
}

/**
 * Does a known_hosts host field name `name`? A hashed field (`|1|salt|hash`) matches exactly one name; otherwise the
 * field is an OpenSSH pattern list (match_hostname): comma-separated, `*` and `?` wildcards, case-insensitive, and a
 * matching `!pattern` vetoes the line whatever else matches.
 */
export function hostMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    // ssh looks hosts up lowercased, and ssh-keygen -H hashes them lowercased
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name.toLowerCase()).digest('base64') === hash;
  }
  const subject = name.toLowerCase();
  let positive = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (pattern === '' || !wildcardMatch(subject, pattern)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

/** OpenSSH match_pattern: `*` any run of characters, `?` exactly one, everything else literal, the whole string. */
export function wildcardMatch(s: string, pattern: string): boolean {
  // Iterative glob with backtracking to the last `*`: linear-ish, no regex built from input.
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else return false;
  }
  while (pi < pattern.length && pattern[pi] === '*') pi++;
  return pi === pattern.length;
}
