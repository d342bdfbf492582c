/**
 * What clawops PRINTS (diff/apply/rollback text and --json, progress, status, reload.log) never carries a secret,
 * content clawops did not write, a raw escape sequence or a forged line/record: the variants an adversarial run
 * (2026-11-29) tried, those it found printed and those that held. Secrets: every secret file the node reports is
 * redacted by fingerprint as a word, a whole line or a whole file, and a hard-linked release file's content is never
 * sent; a manifest vouches for a file only when its file list hashes to its release id; intent lines reach reload.log
 * only in journalLine's exact form; node strings in messages are escaped; --json escapes C1 controls too.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, linkSync, lstatSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalLine, type RunContext } from '../../reconciler/apply/apply-node.js';
import { chownToNodeUser } from '../fleet/fleet.js';
import { runCli, type CliRun } from '../helpers/repo.js';
import { CLEAN_NODE } from '../helpers/fleet-cli.js';
import { fleetReady, useHostileNode } from '../helpers/hostile-node.js';
import { describeHolder, parseHolder } from '../../reconciler/apply/records.js';
import { readinessReason } from '../../reconciler/apply/services.js';
import { progressSink } from '../../reconciler/commands/apply.js';
import { plan } from '../../reconciler/plan/plan.js';
import { planJson, renderText } from '../../reconciler/report/plan-report.js';
import { safeJson } from '../../reconciler/safe-text.js';
import { exampleDesired, nodeObservation, ok, sha, tenantOf } from '../plan/fixtures.js';

const fp12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);
/** what `openssl rand -hex 32` writes: hex is not secret by shape, only the fingerprint can find it */
const HEX = createHash('sha256').update('probe-print-secret').digest('hex');

/** plan gw-1 with acme's openclaw.json on the node holding `old` (its content sent: a path clawops writes) */
function planWithOld(old: string, tweak: (t: ReturnType<typeof nodeObservation>['tenants'][string]) => void): string[] {
  const desired = exampleDesired();
  const observed = desired.nodes.map((n) => {
    const o = nodeObservation(desired, n.name, n.tenants);
    if (n.name === 'gw-1') {
      const t = o.tenants.acme!;
      t.files['openclaw.json'] = sha(old);
      t.contents['openclaw.json'] = Buffer.from(old);
      tweak(t);
    }
    return ok(o);
  });
  const p = plan(desired, observed);
  const meta = { source: { origin: 'x', dirty: false }, lock: desired.lock };
  return [renderText(p, meta), JSON.stringify(planJson(p, meta))];
}

describe('secrets in the old content of a desired file (e.g. a hard link of a secret file at openclaw.json)', () => {
  it('token.current (hex, written with a newline) is redacted by its fingerprint', () => {
    for (const out of planWithOld(`${HEX}\n`, (t) => { t.tokens['token.current'] = { present: true, mode: '600', mtime: 1, fingerprint: fp12(`${HEX}\n`) }; })) expect(out).not.toContain(HEX);
  });

  it('a referenced secret other than token.current/next (hooks.token, hex) is shown: its fingerprint is never used for redaction', () => {
    expect(tenantOf(exampleDesired(), 'acme').secretRefs).toContain('hooks.token');
    for (const out of planWithOld(`${HEX}\n`, (t) => { t.secrets['hooks.token'] = { present: true, mode: '600', mtime: 1, fingerprint: fp12(`${HEX}\n`) }; })) expect(out).not.toContain(HEX);
  });

  it.each([
    ['CRLF line end', `${HEX}\r\n`, [HEX]],
    ['a trailing space', `${HEX} \n`, [HEX]],
    ['two trailing newlines', `${HEX}\n\n`, [HEX]],
    ['a multi-word passphrase', 'correct horse battery staple\n', ['correct horse battery staple']],
    ['a NAME=value line (held: the whole line is hashed as one word)', `GATEWAY_TOKEN=${HEX}\n`, [HEX]],
  ])('token.current written as %s is redacted by its fingerprint (a word, a whole line, or the whole file)', (_n, content, secretWords) => {
    for (const out of planWithOld(content, (t) => { t.tokens['token.current'] = { present: true, mode: '600', mtime: 1, fingerprint: fp12(content) }; })) {
      for (const w of secretWords) expect(out, w).not.toContain(w);
    }
  });
});

const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('node strings in apply messages (unit chain)', () => {
  it('a stale lock taken over: the TTY progress line prints the holder\'s owner/host raw (ESC sequences)', () => {
    const lock = JSON.stringify({ run: 'r1', owner: 'mallory\u001b]0;pwned\u0007\u001b[2J', pid: 1, ttl_sec: 1, acquired_epoch: 1, host: 'h\u001b[31m' });
    const holder = parseHolder(Buffer.from(lock).toString('base64'));
    // remote.ts takeNodeLock: req.onTakeover(`took over a stale lock held by ${describeHolder(holder, now)}`) → emit('lock', 'warn', m)
    const err: string[] = [];
    const sink = progressSink({ stdout: () => undefined, stderr: (s: string) => err.push(s) } as never, true);
    sink({ node: 'gw-1', step: 'lock', state: 'warn', message: `took over a stale lock held by ${describeHolder(holder, 100)}` } as never);
    expect(err.join(''), JSON.stringify(err)).not.toMatch(CONTROL);
  });

  it('a readiness body\'s strings reach the HealthCheckFailed/RolledBack message raw: ESC sequences and secret-shaped values', () => {
    const body = JSON.stringify({ status: 'degraded\u001b]0;pwned\u0007', ready: false, failing: ['db: auth failed for Bearer eyJhbGciOiJIUzI1NiJ9.LeakedJwtPayload'], checks: { 'x\u001b[2J': { status: 'fail' } } });
    const why = readinessReason('503', body);
    expect(why, JSON.stringify(why)).not.toMatch(CONTROL);
    expect(why).not.toContain('LeakedJwtPayload');
  });
});

describe('C1 controls in --json output', () => {
  it('an 8-bit CSI (U+009B) from a node lock owner is escaped in `diff --json` too (safeJson), as in the text', () => {
    const desired = exampleDesired();
    const lock = JSON.stringify({ run: 'r1', owner: 'mallory\u009b2J\u009b31m', pid: 1, ttl_sec: 3600, acquired_epoch: 1000, host: 'h' });
    const observed = desired.nodes.map((n) => ok(nodeObservation(desired, n.name, n.tenants, n.name === 'gw-1' ? { lock, now: 1001 } : {})));
    const p = plan(desired, observed);
    const meta = { source: { origin: 'x', dirty: false }, lock: desired.lock };
    expect(renderText(p, meta)).toContain('mallory\\x9b2J');
    expect(`${safeJson(planJson(p, meta), 2)}\n`).not.toMatch(/[\x7f-\x9f]/);
    expect(JSON.parse(safeJson(planJson(p, meta), 2))).toEqual(JSON.parse(JSON.stringify(planJson(p, meta))));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// on the real sshd fleet

const ready = fleetReady();

describe.skipIf(!ready)('fleet: what diff/apply print', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex'], reset: CLEAN_NODE });
  const { key, diff, idOf, sh } = h;
  const apply = (...args: string[]): Promise<CliRun> => runCli(['apply', '--repo', h.repo, '--identity', key(), '--yes', '--node', 'gw-1', ...args]);
  const rel = (t: string, ...p: string[]): string => join(h.gw.etcOpenclaw, 'releases', t, idOf(t), ...p);
  const secret = (t: string, n: string): string => join(h.gw.varDbOpenclaw, 'secrets', t, n);
  /** write a secret file on the node as operators do (0600, the login user's) */
  const putSecret = async (t: string, n: string, content: string): Promise<void> => {
    await sh(`mkdir -p /var/db/openclaw/secrets/${t} && chmod 700 /var/db/openclaw/secrets/${t} && printf '%s' '${Buffer.from(content).toString('base64')}' | base64 -d > /var/db/openclaw/secrets/${t}/${n} && chmod 600 /var/db/openclaw/secrets/${t}/${n}`);
  };
  /** a hard link of a secret file at a path of the current release (what clawops writes there: its content is sent) */
  const hardLinkAt = (src: string, dst: string): string => {
    rmSync(dst, { force: true });
    try {
      linkSync(src, dst);
      return 'hard link';
    } catch {
      writeFileSync(dst, readFileSync(src));
      chownToNodeUser(dst);
      return 'copy';
    }
  };
  const both = async (): Promise<string[]> => [(await diff()).stdout, (await diff('--json')).stdout];

  it('token.current (hex + LF) hard-linked at acme/openclaw.json is redacted in diff text and --json', async () => {
    await putSecret('acme', 'token.current', `${HEX}\n`);
    hardLinkAt(secret('acme', 'token.current'), rel('acme', 'openclaw.json'));
    for (const out of await both()) {
      expect(out).toContain('openclaw.json');
      expect(out).not.toContain(HEX);
    }
  }, 60_000);

  it('an ssh private key (PEM) hard-linked at a desired path is redacted', async () => {
    const { privateKey } = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await putSecret('acme', 'ssh.key', privateKey);
    hardLinkAt(secret('acme', 'ssh.key'), rel('acme', 'openclaw.json'));
    const body = privateKey.split('\n')[1]!;
    for (const out of await both()) expect(out).not.toContain(body);
  }, 60_000);

  it('hooks.token (a referenced secret, hex as `openssl rand -hex 32` writes it) hard-linked at acme/openclaw.json is printed by diff and diff --json', async () => {
    await putSecret('acme', 'hooks.token', `${HEX}\n`);
    const how = hardLinkAt(secret('acme', 'hooks.token'), rel('acme', 'openclaw.json'));
    for (const out of await both()) {
      expect(out).toContain('openclaw.json');
      expect(out, how).not.toContain(HEX);
    }
  }, 60_000);

  it('token.current written with CRLF (hex) hard-linked at acme/openclaw.json is printed by diff', async () => {
    await putSecret('acme', 'token.current', `${HEX}\r\n`);
    hardLinkAt(secret('acme', 'token.current'), rel('acme', 'openclaw.json'));
    for (const out of await both()) expect(out).not.toContain(HEX);
  }, 60_000);

  it('a secret of a tenant this node no longer has (secrets/oldco/token.current, hex) at a desired path is printed', async () => {
    await putSecret('oldco', 'token.current', `${HEX}\n`);
    hardLinkAt(secret('oldco', 'token.current'), rel('acme', 'openclaw.json'));
    for (const out of await both()) expect(out).not.toContain(HEX);
  }, 60_000);

  it('an intent file planted as if by a dead run is copied verbatim into reload.log: raw ESC/BEL, a non-JSON line, a \\r-forged record', async () => {
    const id = idOf('acme');
    const ctx: RunContext = { run: '20200101t000000-deadbe', actor: 'alice@laptop', pid: 1, lockTtlSec: 60, now: () => new Date('2020-01-01T00:00:00Z'), onEvent: () => undefined };
    const good = journalLine(ctx, 'gw-1', 'apply', 'acme', id);
    const lines = [
      good.replace('"actor":"alice@laptop"', '"actor":"\x1b]0;pwned\x07\x1b[2Jmallory"'),
      `this is no JSON "tenant":"acme","release_id":"${id}" \x1b[31mRED`,
      `{"tenant":"acme","release_id":"${id}","x":"y"}\r{"time":"2099-01-01T00:00:00Z","action":"rollback","tenant":"acme","release_id":"${id}","actor":"ceo","run":"forged"}`,
    ];
    mkdirSync(join(h.gw.varDbOpenclaw, 'clawops'), { recursive: true });
    writeFileSync(join(h.gw.varDbOpenclaw, 'clawops', 'intent.20200101t000000-deadbe'), `${lines.join('\n')}\n`);
    chownToNodeUser(join(h.gw.varDbOpenclaw, 'clawops'));
    const d = await diff();
    expect(d.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const a = await apply();
    expect(a.stdout + a.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const f = join(h.gw.varDbOpenclaw, 'clawops', 'reload.log');
    const log = existsSync(f) && !lstatSync(f).isDirectory() ? readFileSync(f, 'utf8') : '';
    expect(log, JSON.stringify(log)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    for (const l of log.split('\n').filter((x) => x !== '')) expect(() => JSON.parse(l), JSON.stringify(l)).not.toThrow();
  }, 60_000);

  it('a live node lock whose owner holds ESC sequences: apply\'s text summary prints them raw (the newline after them is cut: no forged line)', async () => {
    // a hand edit so that apply has something to deploy and takes the lock
    writeFileSync(rel('acme', 'doctor.json'), '{"edited": true}\n');
    mkdirSync(join(h.gw.varDbOpenclaw, 'clawops'), { recursive: true });
    const owner = 'mallory\u001b]0;pwned\u0007\u001b[2J\n  gw-2             applied    all good\nDone.';
    writeFileSync(join(h.gw.varDbOpenclaw, 'clawops', 'node.lock'), `${JSON.stringify({ run: '20200101t000000-deadbe', owner, pid: 1, ttl_sec: 3600, acquired_epoch: Math.floor(Date.now() / 1000), host: 'h\u001b[31m' })}\n`);
    chownToNodeUser(join(h.gw.varDbOpenclaw, 'clawops'));
    chownToNodeUser(h.gw.etcOpenclaw);
    const d = await diff();
    expect(d.stdout).toContain('locked by');
    expect(d.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const a = await apply();
    expect(a.stdout).toContain('locked by');
    expect(a.stdout, JSON.stringify(a.stdout)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    // the owner's newline is escaped: no line of the output is one the owner forged
    expect(a.stdout.split('\n').filter((l) => l.trim() === 'Done.' || /^\s*gw-2\s+applied/.test(l))).toEqual([]);
  }, 60_000);

  it('the openclaw version line apply reads from its node-side cache (clawops/openclaw-version.cache) reaches the apply summary raw (ESC sequences)', async () => {
    await sh('mkdir -p /var/db/openclaw/clawops');
    expect((await diff()).code).toBe(0); // observe fills clawops/observe/openclaw-version.cache
    const oc = ['observe/openclaw-version.cache', 'openclaw-version.cache'].map((f) => join(h.gw.varDbOpenclaw, 'clawops', f)).find((f) => existsSync(f))!;
    const obsCache = readFileSync(oc, 'utf8');
    const keyOf = obsCache.split('\n')[0]!.split('\t')[0]!;
    expect(keyOf).toMatch(/^[0-9a-f]{64}:/);
    // apply keeps its own cache in clawops/: a line there that observe never sees (diff stays clean for the version)
    writeFileSync(join(h.gw.varDbOpenclaw, 'clawops', 'openclaw-version.cache'), `${keyOf}\tOpenClaw \x1b]0;pwned\x07\x1b[2J\n`);
    writeFileSync(rel('acme', 'doctor.json'), '{"edited": true}\n');
    chownToNodeUser(join(h.gw.varDbOpenclaw, 'clawops'));
    chownToNodeUser(h.gw.etcOpenclaw);
    const a = await apply();
    expect(a.stdout, JSON.stringify(a.stdout.split('Apply ')[1])).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  }, 60_000);

  it('`clawops rollback` against a node locked by an owner holding ESC sequences prints them raw on stderr (cli.ts: `clawops: ${oneLine(e)}`)', async () => {
    mkdirSync(join(h.gw.varDbOpenclaw, 'clawops'), { recursive: true });
    writeFileSync(join(h.gw.varDbOpenclaw, 'clawops', 'node.lock'), `${JSON.stringify({ run: '20200101t000000-deadbe', owner: 'mallory\u001b]0;pwned\u0007\u001b[2J', pid: 1, ttl_sec: 3600, acquired_epoch: Math.floor(Date.now() / 1000), host: 'h' })}\n`);
    chownToNodeUser(join(h.gw.varDbOpenclaw, 'clawops'));
    const r = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(r.stderr).toContain('locked by');
    expect(r.stderr, JSON.stringify(r.stderr)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  }, 60_000);

  it('`clawops status --repo` (text and --json) and `diff` escape node strings: a run record, a guard, a lock and an intent with ESC/CR/LF/C1', async () => {
    const C = join(h.gw.varDbOpenclaw, 'clawops');
    mkdirSync(join(C, 'run'), { recursive: true });
    // a run record: pid of the running service (none here) and a release id full of escapes (JSON-escaped in the file)
    writeFileSync(join(C, 'run', 'acme.json'), `${JSON.stringify({ pid: 4242, release_id: 'x\u001b]0;pwned\u0007\r\nforged', commit: '\u009b2J' })}\n`);
    writeFileSync(join(C, 'guard.20200101t000000-deadbe'), `deadline\t${Math.floor(Date.now() / 1000) + 600}\nac\u009bme\u001b[2J\tdeadbeef\t-\t-\n`);
    writeFileSync(join(C, 'node.lock'), `${JSON.stringify({ run: 'r\u001b[2J', owner: 'o\u009b31m\r\n', pid: 1, ttl_sec: 3600, acquired_epoch: Math.floor(Date.now() / 1000), host: 'h' })}\n`);
    writeFileSync(join(C, 'intent.20200101t000000-dead02'), '{"tenant":"acme","release_id":"0123456789abcdef","run":"\u001b]0;x\u0007\\r\\n"}\n');
    chownToNodeUser(C);
    const outs = [await runCli(['status', '--repo', h.repo, '--identity', key()]), await runCli(['status', '--repo', h.repo, '--identity', key(), '--json']), await diff()];
    for (const o of outs) {
      expect(o.stdout.length).toBeGreaterThan(0);
      expect(o.stdout + o.stderr, JSON.stringify(o.stdout)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    }
    // the planted strings were shown (escaped), not dropped
    expect(outs[2]!.stdout).toContain('\\e[2J');
  }, 60_000);

  it('a hand-added file that the (node-edited) manifest lists is printed in full: the node decides what is "clawops\' own"', async () => {
    const note = 'PRIVATE-NOTE: the backup passphrase is blue-kangaroo-42\n';
    writeFileSync(rel('acme', 'gateway.d', '99-local.yaml'), note);
    const m = rel('acme', '.clawops', 'manifest.json');
    const text = readFileSync(m, 'utf8');
    expect(text).toMatch(/^  "files": \{\n/m);
    writeFileSync(m, text.replace(/^  "files": \{\n/m, `  "files": {\n    "gateway.d/99-local.yaml": "${createHash('sha256').update(note).digest('hex')}",\n`));
    chownToNodeUser(h.gw.etcOpenclaw);
    for (const out of await both()) {
      expect(out).toContain('99-local.yaml');
      expect(out).not.toContain('blue-kangaroo-42');
    }
  }, 60_000);
});
