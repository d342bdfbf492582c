/**
 * known_hosts as OpenSSH reads it: `@revoked` keys are refused whatever else lists them, `@cert-authority` lines are
 * not pins, host fields are pattern lists (`*`, `?`, `!negation`) or hashed names. Real key files from ssh-keygen,
 * and `ssh-keygen -F` as the oracle for which lines match a host.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HostKeyError } from '../../reconciler/errors.js';
import {
  fingerprint,
  HostKeyRevokedError,
  hostKeysFor,
  hostMatches,
  knownHostKeys,
  parseKnownHosts,
  parsePublicKey,
  readKnownHosts,
  wildcardMatch,
} from '../../reconciler/transport/host-keys.js';

const haveKeygen = spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;

let dir: string;
/** `ssh-ed25519 AAAA…` lines of three real keys */
let A: string;
let B: string;
let C: string;

function keygen(name: string): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
}
function knownHosts(lines: string[]): string {
  const file = join(mkdtempSync(join(dir, 'kh-')), 'known_hosts');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}
function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}
const blob = (line: string): Buffer => parsePublicKey(line)!.blob;
const fp = (line: string): string => fingerprint(blob(line));

describe.skipIf(!haveKeygen)('known_hosts', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'clawops-hostkeys-'));
    A = keygen('a');
    B = keygen('b');
    C = keygen('c');
  });

  it('a key marked @revoked is not accepted even though a plain line lists it', () => {
    const file = knownHosts([`[127.0.0.1]:2222 ${A}`, `@revoked [127.0.0.1]:2222 ${A}`]);
    expect(knownHostKeys(file, '127.0.0.1', 2222)).toEqual([]);
    const k = hostKeysFor(readKnownHosts(file), '127.0.0.1', 2222);
    expect(k.listed.map((x) => x.blob)).toEqual([blob(A)]);
    expect(k.revoked.map((x) => x.blob)).toEqual([blob(A)]);
  });

  it('@revoked applies through a * wildcard to every host and port, and leaves other keys alone', () => {
    const file = knownHosts([`gw-1 ${A}`, `gw-1 ${B}`, `[10.0.0.7]:2200 ${A}`, `@revoked * ${A}`]);
    expect(knownHostKeys(file, 'gw-1', 22).map((k) => k.blob)).toEqual([blob(B)]);
    expect(knownHostKeys(file, '10.0.0.7', 2200)).toEqual([]);
    expect(hostKeysFor(readKnownHosts(file), 'anything.example.com', 22).revoked.map((k) => k.blob)).toEqual([blob(A)]);
  });

  it('@revoked with a host pattern applies only to the hosts it matches', () => {
    const file = knownHosts([`gw-1,db-1 ${A}`, `@revoked gw-* ${A}`]);
    expect(knownHostKeys(file, 'gw-1', 22)).toEqual([]);
    expect(knownHostKeys(file, 'db-1', 22).map((k) => k.blob)).toEqual([blob(A)]);
  });

  it('a hashed @revoked entry', () => {
    const file = knownHosts([`${hashed('[gw-1.example.com]:2222')} ${A}`, `@revoked ${hashed('[gw-1.example.com]:2222')} ${A}`]);
    expect(knownHostKeys(file, 'gw-1.example.com', 2222)).toEqual([]);
    expect(knownHostKeys(file, 'GW-1.example.com', 2222)).toEqual([]);
    expect(hostKeysFor(readKnownHosts(file), 'gw-1.example.com', 2222).listed).toHaveLength(1);
    expect(hostKeysFor(readKnownHosts(file), 'gw-2.example.com', 2222).revoked).toEqual([]);
  });

  it('@cert-authority lines are not pins', () => {
    const file = knownHosts([`@cert-authority *.example.com ${A}`, `@cert-authority gw-1.example.com ${B}`]);
    expect(knownHostKeys(file, 'gw-1.example.com', 22)).toEqual([]);
    expect(hostKeysFor(readKnownHosts(file), 'gw-1.example.com', 22).revoked).toEqual([]);
  });

  it('unknown markers, comments, blank lines, bad keys and tabs', () => {
    const entries = parseKnownHosts([`# a comment`, ``, `@frobnicate gw-1 ${A}`, `gw-1 not-a-key`, `gw-1\t${B} comment here`, `@revoked\tgw-1   ${C}`].join('\n'));
    expect(entries.map((e) => [e.line, e.marker ?? 'plain', e.hosts])).toEqual([
      [5, 'plain', 'gw-1'],
      [6, 'revoked', 'gw-1'],
    ]);
  });

  it('host patterns: *, ?, negation, case, ports', () => {
    expect(hostMatches('*.example.com', 'gw-1.example.com')).toBe(true);
    expect(hostMatches('*.example.com', 'example.com')).toBe(false);
    expect(hostMatches('gw-?', 'gw-1')).toBe(true);
    expect(hostMatches('gw-?', 'gw-10')).toBe(false);
    expect(hostMatches('gw-*,!gw-3', 'gw-3')).toBe(false);
    expect(hostMatches('!gw-3,gw-*', 'gw-4')).toBe(true);
    expect(hostMatches('!gw-3', 'gw-4')).toBe(false); // a negation alone never matches
    expect(hostMatches('GW-1', 'gw-1')).toBe(true);
    expect(hostMatches('*', '[127.0.0.1]:2222')).toBe(true);
    expect(hostMatches('[127.0.0.1]:*', '[127.0.0.1]:2222')).toBe(true);
    expect(hostMatches('127.0.0.1', '[127.0.0.1]:2222')).toBe(false);
    expect(wildcardMatch('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', '*a*a*a*a*a*a*a*a*a*a*a*a*c')).toBe(false);
  });

  it('matches exactly the lines `ssh-keygen -F` finds, markers included', () => {
    const hosts = ['gw-1', 'gw-3', 'GW-9', 'db-1', 'a.ex.com', 'ex.com', '[127.0.0.1]:2222', '[127.0.0.1]:22', '10.0.0.7', 'gw-10'];
    const lines = [
      `gw-1,gw-2 ${A}`,
      `!gw-3,gw-* ${B}`,
      `gw-? ${C}`,
      `@revoked gw-* ${A}`,
      `@revoked * ${C}`,
      `@cert-authority *.ex.com ${A}`,
      `[127.0.0.1]:2222 ${B}`,
      `[127.0.0.1]:* ${C}`,
      `${hashed('db-1')} ${A}`,
      `@revoked ${hashed('db-1')} ${B}`,
      `10.0.0.? ${A}`,
      `*.EX.com,!b.ex.com ${B}`,
      `@revoked !gw-1,gw-1? ${B}`,
    ];
    const file = knownHosts(lines);
    const ours = (h: string): string[] =>
      readKnownHosts(file)
        .filter((e) => hostMatches(e.hosts, h))
        .map((e) => `${e.line} ${e.marker === 'revoked' ? 'REVOKED' : e.marker === 'cert-authority' ? 'CA' : ''}`.trim());
    for (const h of hosts) {
      const r = spawnSync('ssh-keygen', ['-F', h, '-f', file], { encoding: 'utf8' });
      const theirs = [...r.stdout.matchAll(/^# Host .* found: line (\d+) ?(\S*)$/gm)].map((m) => `${m[1]} ${m[2]}`.trim());
      expect([h, ours(h)]).toEqual([h, theirs]);
    }
  });

  it('the revocation error names the node, the key type, its SHA256 fingerprint and says revoked, on one line', () => {
    const e = new HostKeyRevokedError('gw-1', blob(A), '/etc/ssh/ssh_known_hosts');
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toBe(`gw-1: host key ssh-ed25519 ${fp(A)} is revoked (@revoked in /etc/ssh/ssh_known_hosts); refusing to connect`);
    expect(fp(A)).toBe(execFileSync('ssh-keygen', ['-lf', join(dir, 'a.pub')], { encoding: 'utf8' }).split(' ')[1]);
  });
});
