/** Host key pinning: parse inventory keys and known_hosts, compute OpenSSH-style fingerprints. */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IoError } from '../errors.js';

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

/** Keys listed for host:port in a known_hosts file (plain or hashed entries; markers like @revoked are skipped). */
export function knownHostKeys(file: string, host: string, port: number): PublicKey[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new IoError(`${file}: cannot read known_hosts (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const name = port === 22 ? host : `[${host}]:${port}`;
  const out: PublicKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const hosts = line.slice(0, sp);
    const key = parsePublicKey(line.slice(sp + 1));
    if (key && hostMatches(hosts, name)) out.push(key);
  }
  return out;
}

function hostMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return field.split(',').some((h) => h === name);
}
