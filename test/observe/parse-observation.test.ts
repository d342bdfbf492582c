/** Pure parsing of what a node prints: `launchctl print` and the observe script's JSON. */
import { describe, expect, it } from 'vitest';
import { parseLaunchctlPrint, parseObservation, serviceState } from '../../reconciler/observe/parse-observation.js';
import { buildManifest, manifestBytes } from '../../reconciler/release-manifest.js';

/** macOS 14 `launchctl print system/<label>` of a running LaunchDaemon (tab-indented, nested blocks). */
const RUNNING = `system/ai.openclaw.acme = {
\tactive count = 1
\tpath = /Library/LaunchDaemons/ai.openclaw.acme.plist
\ttype = LaunchDaemon
\tstate = running

\tprogram = /usr/local/bin/openclaw
\targuments = {
\t\t/usr/local/bin/openclaw
\t\t--profile
\t\tacme
\t\tgateway
\t\trun
\t}

\tworking directory = /var/db/openclaw/acme

\tstdout path = /var/log/openclaw/acme.log
\tstderr path = /var/log/openclaw/acme.log
\tinherited environment = {
\t\tSSH_AUTH_SOCK => /private/var/run/com.apple.launchd.Xc1yMvN2Qk/Listeners
\t}

\tdefault environment = {
\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin
\t}

\tenvironment = {
\t\tOPENCLAW_CONFIG_PATH => /etc/openclaw/tenants/acme/openclaw.json
\t\tCLAWOPS_RELEASE => 8a5173f4dfe4c912
\t\tXPC_SERVICE_NAME => ai.openclaw.acme
\t}

\tdomain = system
\tusername = clawops
\tgroup = staff
\tminimum runtime = 10
\texit timeout = 5
\truns = 3
\tpid = 8123
\timmediate reason = inefficient
\tforks = 0
\texecs = 3
\tinitialized = 1
\ttrampolined = 1
\tstarted suspended = 0
\tproxy started suspended = 0
\tlast exit code = 0

\tevent triggers = {
\t\tai.openclaw.acme.reload => {
\t\t\tkeepalive = 1
\t\t\tservice = ai.openclaw.acme
\t\t\tstream = com.apple.notifyd.matching
\t\t\tmonitor = 0
\t\t\tdescriptor = {
\t\t\t\t"Notification" => "ai.openclaw.acme.reload"
\t\t\t}
\t\t}
\t}

\tevent channels = {
\t\t"com.apple.notifyd.matching" = {
\t\t\tport = 0x1c503
\t\t\tactive = 1
\t\t\tmanaged = 1
\t\t\treset = 0
\t\t\thide = 0
\t\t\twatching = 0
\t\t}
\t}

\tendpoints = {
\t\t"ai.openclaw.acme.xpc" = {
\t\t\tport = 0x3a103
\t\t\tactive = 0
\t\t\tmanaged = 1
\t\t\treset = 0
\t\t\thide = 0
\t\t\twatching = 1
\t\t}
\t}

\tspawn type = daemon (3)
\tjetsam priority = 40
\tjetsam memory limit (active) = (unlimited)
\tjetsam memory limit (inactive) = (unlimited)
\tjetsamproperties category = daemon
\tjetsam thread limit = 32
\tcpumon = default
\tjob state = running
\tprobabilistic guard malloc policy = {
\t\tactivation rate = 1/1000
\t\tsample rate = 1/0
\t}

\tproperties = keepalive | runatload | inferred program
}
`;

/** The same service after the gateway refused its config (EX_CONFIG) and KeepAlive gave up for now. */
const EXITED = `system/ai.openclaw.globex = {
\tactive count = 0
\tpath = /Library/LaunchDaemons/ai.openclaw.globex.plist
\ttype = LaunchDaemon
\tstate = not running

\tprogram = /usr/local/bin/openclaw
\targuments = {
\t\t/usr/local/bin/openclaw
\t\t--profile
\t\tglobex
\t}

\tdefault environment = {
\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin
\t}

\tenvironment = {
\t\tXPC_SERVICE_NAME => ai.openclaw.globex
\t}

\tdomain = system
\tminimum runtime = 10
\texit timeout = 5
\truns = 12
\tlast exit code = 78: EX_CONFIG

\tspawn type = daemon (3)
\tjob state = exited
\tproperties = keepalive | runatload | inferred program
}
`;

describe('parseLaunchctlPrint', () => {
  it('reads state, pid, last exit code and the environment block of a running service', () => {
    const st = parseLaunchctlPrint(RUNNING, 0);
    expect(st).toMatchObject({ loaded: true, state: 'running', pid: 8123, lastExitCode: '0', exitCode: 0 });
    expect(st.environment).toEqual({
      OPENCLAW_CONFIG_PATH: '/etc/openclaw/tenants/acme/openclaw.json',
      CLAWOPS_RELEASE: '8a5173f4dfe4c912',
      XPC_SERVICE_NAME: 'ai.openclaw.acme',
    });
    // top-level fields only: nothing from arguments, the other environments or nested blocks
    expect(st.fields).toMatchObject({ path: '/Library/LaunchDaemons/ai.openclaw.acme.plist', type: 'LaunchDaemon', program: '/usr/local/bin/openclaw', runs: '3', 'immediate reason': 'inefficient' });
    expect(st.fields.PATH).toBeUndefined();
    expect(st.fields.SSH_AUTH_SOCK).toBeUndefined();
    expect(st.fields.port).toBeUndefined();
    expect(st.fields.keepalive).toBeUndefined();
    // fields after `=> {` blocks (event triggers) are still top level
    expect(st.fields).toMatchObject({ 'spawn type': 'daemon (3)', 'job state': 'running', properties: 'keepalive | runatload | inferred program' });
    expect(st.fields['activation rate']).toBeUndefined();
  });

  it('a service that is loaded but not running: no pid, the last exit code as printed', () => {
    const st = parseLaunchctlPrint(EXITED, 0);
    expect(st).toMatchObject({ loaded: true, state: 'not running', lastExitCode: '78: EX_CONFIG' });
    expect(st.pid).toBeUndefined();
    expect(st.fields['job state']).toBe('exited');
    expect(st.environment).toEqual({ XPC_SERVICE_NAME: 'ai.openclaw.globex' });
  });

  it('never exited yet', () => {
    const st = parseLaunchctlPrint('system/ai.openclaw.x = {\n\tstate = running\n\tpid = 1\n\tlast exit code = (never exited)\n}\n', 0);
    expect(st).toMatchObject({ loaded: true, state: 'running', pid: 1, lastExitCode: '(never exited)' });
  });

  it('exit 113 "Could not find service" is not loaded', () => {
    const st = parseLaunchctlPrint('Could not find service "ai.openclaw.acme" in domain for system\n', 113);
    expect(st).toEqual({ loaded: false, fields: {}, environment: {}, exitCode: 113 });
  });

  it('launchctl missing (127) or any other failure is not loaded, never a crash', () => {
    expect(parseLaunchctlPrint('sh: 1: launchctl: not found', 127)).toMatchObject({ loaded: false, exitCode: 127 });
    expect(parseLaunchctlPrint('', 0)).toEqual({ loaded: true, fields: {}, environment: {}, exitCode: 0 });
    expect(parseLaunchctlPrint('}\n}\ngarbage = {\nstate = x\n', 0).loaded).toBe(true);
  });

  it('a non-numeric pid is left out', () => {
    expect(parseLaunchctlPrint('system/x = {\n\tstate = running\n\tpid = ?\n}\n', 0).pid).toBeUndefined();
  });
});

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const meta = { commands: 1, durationMs: 12 };
const doc = (records: unknown[]): string => JSON.stringify({ v: 1, records });

describe('parseObservation', () => {
  const manifest = buildManifest({ id: 'acme', releaseId: 'r2', files: [{ path: 'openclaw.json', sha256: 'a'.repeat(64) }] }, { createdAt: '2026-11-25T00:00:00Z', actor: 't' });

  it('turns records into a NodeObservation', () => {
    const o = parseObservation(
      'gw-1',
      doc([
        ['daemon', '/opt/openclaw/openclaw.mjs', 'd'.repeat(64)],
        ['version', '0', 'OpenClaw 2026.9.6 (eb377ac)', '1'],
        ['disk', '1048576', '4194304'],
        ['lock', b64('pid 42 since 2026-11-25\n')],
        ['link', 'acme', 'current', '../releases/acme/r2'],
        ['link', 'acme', 'prev', '/etc/openclaw/releases/acme/r1'],
        ['manifestj', 'acme', 'current', manifestBytes(manifest).toString('utf8').replace(/\n/g, ' ')],
        ['manifestj', 'acme', 'prev', '{not json'],
        ['file', 'acme', 'openclaw.json', 'a'.repeat(64)],
        ['file', 'acme', 'gateway.d/10 base.yaml', 'symlink'],
        ['content', 'acme', 'openclaw.json', b64('{"old":true}\n')],
        ['release', 'acme', 'r2'],
        ['release', 'acme', 'r1'],
        ['svc', 'ai.openclaw.acme', '8123', '-'],
        ['token', 'acme', 'token.current', '600', '1764000000', 'a1b2c3d4e5f6'],
        ['token', 'acme', 'token.next', 'missing'],
        ['token', 'globex', 'token.current', 'missing'],
        ['error', '/etc/openclaw/tenants/globex exists but is not a symlink'],
      ]),
      meta,
    );
    expect(o.node).toBe('gw-1');
    expect(o.openclaw).toEqual({ found: true, exitCode: 0, raw: 'OpenClaw 2026.9.6 (eb377ac)', version: '2026.9.6', commit: 'eb377ac', cached: true });
    expect(o.daemon).toEqual({ path: '/opt/openclaw/openclaw.mjs', sha256: 'd'.repeat(64) });
    expect(o.disk).toEqual({ freeKb: 1048576, totalKb: 4194304 });
    expect(o.lock).toBe('pid 42 since 2026-11-25\n');
    expect(o.errors).toEqual(['/etc/openclaw/tenants/globex exists but is not a symlink']);
    expect(o.commands).toBe(1);
    expect(o.durationMs).toBe(12);
    const acme = o.tenants.acme!;
    expect(acme.current).toEqual({ target: '../releases/acme/r2', releaseId: 'r2' });
    expect(acme.prev).toEqual({ target: '/etc/openclaw/releases/acme/r1', releaseId: 'r1' });
    expect(acme.manifest).toEqual(manifest);
    expect(acme.prevManifest).toEqual({ invalid: 'not JSON' });
    expect(acme.files).toEqual({ 'openclaw.json': 'a'.repeat(64), 'gateway.d/10 base.yaml': 'symlink' });
    expect(acme.contents['openclaw.json']?.toString()).toBe('{"old":true}\n');
    expect(acme.releases).toEqual(['r1', 'r2']);
    expect(acme.launchd).toMatchObject({ loaded: true, state: 'running', pid: 8123 });
    expect(acme.tokens).toEqual({ 'token.current': { present: true, mode: '600', mtime: 1764000000, fingerprint: 'a1b2c3d4e5f6' }, 'token.next': { present: false } });
    const globex = o.tenants.globex!;
    expect(globex.launchd).toEqual({ loaded: false, fields: {}, environment: {}, exitCode: 113 });
    expect(globex.current).toBeUndefined();
    expect(globex.tokens['token.current']).toEqual({ present: false });
  });

  it('a link outside releases/<tenant>/ has no release id', () => {
    const o = parseObservation('n', doc([['link', 'acme', 'current', '../releases/globex/r1'], ['link', 'globex', 'current', '/tmp/elsewhere']]), meta);
    expect(o.tenants.acme!.current).toEqual({ target: '../releases/globex/r1' });
    expect(o.tenants.globex!.current).toEqual({ target: '/tmp/elsewhere' });
  });

  it('openclaw missing, failing or printing something else', () => {
    expect(parseObservation('n', doc([['version', '127', '', '0']]), meta).openclaw).toEqual({ found: false, exitCode: 127, raw: '', cached: false });
    expect(parseObservation('n', doc([['version', '1', 'Error: Cannot find module', '0']]), meta).openclaw).toEqual({ found: true, exitCode: 1, raw: 'Error: Cannot find module', cached: false });
    // no version record at all: treated as not found
    expect(parseObservation('n', doc([]), meta).openclaw.found).toBe(false);
  });

  it('unknown record kinds (a newer script) are ignored', () => {
    const o = parseObservation('n', doc([['sysctl', 'hw.memsize', '17179869184'], ['version', '0', 'OpenClaw 2026.9.6 (eb377ac)', '0'], []]), meta);
    expect(o.openclaw.version).toBe('2026.9.6');
    expect(o.errors).toEqual([]);
    expect(o.tenants).toEqual({});
  });

  it.each([
    ['not JSON', 'sh: 1: awk: not found'],
    ['empty output', ''],
    ['truncated', '{"v":1,"records":[["version","0"'],
    ['another version', JSON.stringify({ v: 2, records: [] })],
    ['no records', JSON.stringify({ v: 1 })],
    ['null', 'null'],
    ['an array', '[]'],
    ['a record that is not a list', JSON.stringify({ v: 1, records: [5] })],
    ['a field that is not a string', JSON.stringify({ v: 1, records: [['content', 'acme', 'x', 5]] })],
  ])('malformed output (%s) is an Error, never a crash of another kind', (_name, stdout) => {
    let err: unknown;
    try {
      parseObservation('n', stdout, meta);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(TypeError);
    expect((err as Error).message).not.toMatch(/Cannot read|not iterable|undefined/);
  });

  it('an entry under tenants/ that is no tenant id is an error, not a crash', () => {
    const o = parseObservation(
      'n',
      doc([
        ['link', 'acme(', 'current', '../releases/acme(/r1'],
        ['token', '__proto__', 'token.current', 'missing'],
        ['manifestj', '__proto__', 'current', '{}'],
        ['link', 'acme', 'current', '../releases/acme/r1'],
        // a stray file under tenants/ (the script reports it) gets token records too: not reported again
        ['error', '/etc/openclaw/tenants/README exists but is not a symlink'],
        ['token', 'README', 'token.current', 'missing'],
        // a valid tenant id that is also an Object.prototype member
        ['file', 'constructor', 'x', 'y'],
      ]),
      meta,
    );
    expect(Object.keys(o.tenants)).toEqual(['acme', 'constructor']);
    expect(o.tenants.acme!.current?.releaseId).toBe('r1');
    expect(o.tenants.constructor).toMatchObject({ tenant: 'constructor', files: { x: 'y' } });
    expect(o.errors).toEqual(['unexpected entry "acme(" under tenants/ (not a tenant id)', 'unexpected entry "__proto__" under tenants/ (not a tenant id)', '/etc/openclaw/tenants/README exists but is not a symlink']);
    expect(({} as Record<string, unknown>).releases).toBeUndefined();
  });
});

describe('serviceState (a line of `launchctl print system`)', () => {
  it('a running service has its pid; one that exited has its last exit status', () => {
    expect(serviceState({ pid: '4242', last: '-' }, undefined)).toMatchObject({ loaded: true, state: 'running', pid: 4242, exitCode: 0 });
    const stopped = serviceState({ pid: '0', last: '78' }, undefined);
    expect(stopped).toMatchObject({ loaded: true, state: 'not running', lastExitCode: '78' });
    expect(stopped.pid).toBeUndefined();
    expect(serviceState({ pid: '-', last: '(SIGKILL)' }, undefined)).toMatchObject({ loaded: true, state: 'not running', lastExitCode: '(SIGKILL)' });
  });
  it('a service not listed is not loaded; a failed listing keeps its exit code', () => {
    expect(serviceState(undefined, undefined)).toEqual({ loaded: false, fields: {}, environment: {}, exitCode: 113 });
    expect(serviceState(undefined, 1).exitCode).toBe(1);
  });
  it('parseObservation maps svc records to tenants and manifestj to manifests', () => {
    const m = buildManifest({ id: 'acme', releaseId: 'aaaaaaaaaaaaaaaa', files: [] }, { createdAt: '2026-11-25T00:00:00Z', actor: 't' });
    const o = parseObservation(
      'n1',
      JSON.stringify({
        v: 1,
        records: [
          ['link', 'acme', 'current', '../releases/acme/aaaaaaaaaaaaaaaa'],
          ['manifestj', 'acme', 'current', manifestBytes(m).toString('utf8').replace(/\n/g, ' ')],
          ['svc', 'ai.openclaw.acme', '4242', '-'],
          ['svc', 'ai.openclaw.other', '1', '-'],
          ['link', 'globex', 'current', '../releases/globex/bbbbbbbbbbbbbbbb'],
        ],
      }),
      { commands: 1, durationMs: 1 },
    );
    expect(o.tenants.acme!.manifest).toEqual(m);
    expect(o.tenants.acme!.launchd).toMatchObject({ loaded: true, state: 'running', pid: 4242 });
    expect(o.tenants.globex!.launchd.loaded).toBe(false);
  });
});

describe('an insync record expanded from stdin', () => {
  const manifest = JSON.stringify({ schema: 1, tenant: 'acme', release_id: 'abc', files: {}, created_at: 'x', actor: 'y' });
  const out = doc([['link', 'acme', 'current', '../releases/acme/abc'], ['manifestj', 'acme', 'current', manifest], ['insync', 'acme', 'f'.repeat(64)], ['link', 'globex', 'current', '../releases/globex/def'], ['manifestj', 'globex', 'current', manifest.replace('"acme"', '"globex"').replace('abc', 'def')], ['insync', 'globex', 'e'.repeat(64)]]);
  const files = (o: ReturnType<typeof parseObservation>, t: string): unknown => (o.tenants[t]!.manifest as { files: unknown }).files;

  it('is each tenant’s own F lines, found again for the same stdin, and a stdin’s own when it differs', () => {
    const stdin = `T\tacme\nF\tacme\ta\t${'1'.repeat(64)}\nT\tglobex\nF\tglobex\tb\t${'2'.repeat(64)}\n`;
    const o1 = parseObservation('n1', out, meta, stdin);
    const o2 = parseObservation('n2', out, meta, stdin);
    expect(files(o1, 'acme')).toEqual({ a: '1'.repeat(64) });
    expect(files(o1, 'globex')).toEqual({ b: '2'.repeat(64) });
    expect(files(o2, 'acme')).toBe(files(o1, 'acme'));
    expect(files(o2, 'globex')).toBe(files(o1, 'globex'));
    // another stdin (an equal string made anew, then one that differs for one tenant)
    const o3 = parseObservation('n3', out, meta, `${stdin.slice(0, -1)}\n`.split('').join(''));
    expect(files(o3, 'acme')).toBe(files(o1, 'acme'));
    const o4 = parseObservation('n4', out, meta, stdin.replace('1'.repeat(64), '3'.repeat(64)));
    expect(files(o4, 'acme')).toEqual({ a: '3'.repeat(64) });
    expect(files(o4, 'globex')).toBe(files(o1, 'globex'));
    // a tenant the stdin has no F lines of cannot be expanded, for any node sent it
    for (const o of [parseObservation('n5', out, meta, 'T\tacme\n'), parseObservation('n6', out, meta, 'T\tacme\n')]) {
      expect(o.errors).toEqual(['observe: acme reported in sync without what it was compared with', 'observe: globex reported in sync without what it was compared with']);
    }
  });
});
