import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NodeSSH } from 'node-ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FLEET_USER,
  INOTIFY_INSTANCES,
  defaultOpenclawVersion,
  fleetAvailable,
  openclawCached,
  startFleet,
  type Fleet,
  type FleetNodeHandle,
} from './fleet.js';

const avail = fleetAvailable();
const openclawVersion = defaultOpenclawVersion();
const haveOpenclaw = avail.ok && openclawCached(openclawVersion);
if (!avail.ok) console.warn(`[fleet] skipping fleet tests: ${avail.reason ?? 'unavailable'}`);
else if (!haveOpenclaw) {
  console.warn(
    `[fleet] OpenClaw ${openclawVersion} not cached: run scripts/install-openclaw-cache.sh ${openclawVersion} ` +
      '(or add test/fleet/global-setup.ts as vitest globalSetup); skipping the openclaw test',
  );
}

/** Open an ssh connection that only accepts the given host key (the inventory's pinned key). */
async function connect(fleet: Fleet, node: FleetNodeHandle, pinnedKey: string = node.hostKey): Promise<NodeSSH> {
  const pinned = pinnedKey.split(' ')[1];
  // ssh2 leaves Nagle on; with TCP_NODELAY one exec on an open connection drops from ~45 ms to a few ms.
  const sock = net.connect(node.port, node.host);
  sock.setNoDelay(true);
  await once(sock, 'connect');
  const ssh = new NodeSSH();
  await ssh.connect({
    sock,
    username: node.user,
    privateKeyPath: fleet.clientKeyPath,
    readyTimeout: 5000,
    hostVerifier: (key: Buffer): boolean => key.toString('base64') === pinned,
  });
  // node-ssh drops its error listener once connected: without this, a node stopped while a socket is
  // still closing turns the server's RST into an uncaught ECONNRESET.
  ssh.connection?.on('error', () => undefined);
  return ssh;
}

async function sh(ssh: NodeSSH, cmd: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const r = await ssh.execCommand(cmd, { noTrim: true });
  return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? -1 };
}

/** Host PIDs whose command line contains token (to prove a node's jobs died with it; never used to kill). */
function hostPidsWithArg(token: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(token)) pids.push(Number(entry));
    } catch {
      // exited
    }
  }
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

function plist(label: string, args: string[], extra = ''): string {
  const strings = args.map((a) => `<string>${a}</string>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>${label}</string>
  <key>ProgramArguments</key><array>${strings}</array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
  ${extra}
</dict>
</plist>
`;
}

const pidOf = (printOut: string): number | undefined => {
  const m = /^\tpid = (\d+)$/m.exec(printOut);
  return m ? Number(m[1]) : undefined;
};

describe.skipIf(!avail.ok)('test fleet', () => {
  let fleet: Fleet;
  let gw1: FleetNodeHandle;
  let gw2: FleetNodeHandle;

  beforeAll(async () => {
    const t0 = performance.now();
    fleet = await startFleet({ names: ['gw-1', 'gw-2'], openclaw: haveOpenclaw });
    console.info(`[fleet] 2 nodes up in ${Math.round(performance.now() - t0)} ms`);
    [gw1, gw2] = fleet.nodes as [FleetNodeHandle, FleetNodeHandle];
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('describes each node', () => {
    expect(fleet.nodes.map((n) => n.name)).toEqual(['gw-1', 'gw-2']);
    for (const n of fleet.nodes) {
      expect(n.host).toBe('127.0.0.1');
      expect(n.user).toBe(FLEET_USER);
      expect(n.hostKey).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
      expect(n.etcOpenclaw).toBe(path.join(n.root, 'etc-openclaw'));
      expect(n.varDbOpenclaw).toBe(path.join(n.root, 'var-db-openclaw'));
      expect(n.binDir).toBe(path.join(n.root, 'bin'));
    }
    expect(gw1.port).not.toBe(gw2.port);
    expect(gw1.hostKey).not.toBe(gw2.hostKey);
    const knownHosts = readFileSync(fleet.knownHostsPath, 'utf8');
    for (const n of fleet.nodes) expect(knownHosts).toContain(`[127.0.0.1]:${n.port} ${n.hostKey}\n`);
    expect(readFileSync(fleet.clientKeyPath, 'utf8')).toContain('OPENSSH PRIVATE KEY');
  });

  it('leaves room for every gateway of a 200-gateway fleet to watch its config with inotify (root, a writable /proc/sys)', () => {
    const f = '/proc/sys/fs/inotify/max_user_instances';
    let writable = false;
    try {
      writable = process.getuid?.() === 0 && (statSync(f).mode & 0o200) !== 0 && !readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => / \/proc\/sys proc ro[ ,]/.test(l));
    } catch {
      writable = false;
    }
    if (writable) expect(Number(readFileSync(f, 'utf8').trim())).toBeGreaterThanOrEqual(INOTIFY_INSTANCES);
  });

  it('logs in with the pinned host key and shows each node only its own /etc/openclaw', async () => {
    writeFileSync(path.join(gw1.etcOpenclaw, 'who'), 'gw-1\n');
    writeFileSync(path.join(gw2.etcOpenclaw, 'who'), 'gw-2\n');
    for (const [node, other] of [
      [gw1, gw2],
      [gw2, gw1],
    ] as const) {
      const t0 = performance.now();
      const ssh = await connect(fleet, node);
      const loginMs = performance.now() - t0;
      try {
        const t1 = performance.now();
        const r = await sh(ssh, 'id -un; cat /etc/openclaw/who; ls -A /etc/openclaw; ls -A /var/db/openclaw; echo "$HOME"');
        const execMs = performance.now() - t1;
        console.info(`[fleet] ${node.name}: ssh login ${Math.round(loginMs)} ms, exec on open connection ${Math.round(execMs)} ms`);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe([FLEET_USER, node.name, 'who', 'clawops', 'secrets', `/home/${FLEET_USER}`, ''].join('\n'));
        // writes as the node user land in that node's directory only
        const file = `from-${node.name}`;
        const w = await sh(ssh, `echo hi > /etc/openclaw/${file} && mkdir -p /var/db/openclaw/clawops/x && echo $PATH`);
        expect(w.code).toBe(0);
        expect(w.stdout.split(':')[0]).toBe('/usr/local/bin');
        expect(readFileSync(path.join(node.etcOpenclaw, file), 'utf8')).toBe('hi\n');
        expect(existsSync(path.join(other.etcOpenclaw, file))).toBe(false);
        expect(existsSync(path.join('/etc/openclaw', file))).toBe(false);
        expect(existsSync(path.join(node.varDbOpenclaw, 'clawops', 'x'))).toBe(true);
      } finally {
        ssh.dispose();
      }
      // the host's own view of the production paths is untouched
      expect(existsSync('/etc/openclaw/who')).toBe(false);
    }
  });

  it('rejects a connection pinned to another node\'s host key', async () => {
    await expect(connect(fleet, gw1, gw2.hostKey)).rejects.toThrow();
  });

  it('exec() runs as the node user inside the node', async () => {
    const t0 = performance.now();
    const r = await gw2.exec('id -un; cat /etc/openclaw/who; echo "$PATH"; pwd; exit 3');
    console.info(`[fleet] exec() round trip ${Math.round(performance.now() - t0)} ms`);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(`${FLEET_USER}\ngw-2\n/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n/home/${FLEET_USER}\n`);
    const err = await gw2.exec('echo oops >&2; false');
    expect(err).toEqual({ stdout: '', stderr: 'oops\n', code: 1 });
  });

  it.skipIf(!haveOpenclaw)('runs the real OpenClaw CLI (Node 24) over ssh', async () => {
    const ssh = await connect(fleet, gw1);
    try {
      const r = await sh(ssh, 'openclaw --version; node --version; readlink /usr/local/bin/openclaw');
      expect(r.code).toBe(0);
      const [version, node, link] = r.stdout.split('\n');
      expect(version).toMatch(new RegExp(`^OpenClaw ${openclawVersion.replace(/\./g, '\\.')} \\([0-9a-f]+\\)$`));
      expect(node).toMatch(/^v24\./);
      expect(link).toMatch(/node_modules\/openclaw\/openclaw\.mjs$/);
    } finally {
      ssh.dispose();
    }
  });

  it('supervises a LaunchDaemon with the launchctl stand-in', async () => {
    const label = 'ai.openclaw.fleettest';
    const ssh = await connect(fleet, gw1);
    try {
      await ssh.withSFTP(async (sftp) => {
        await new Promise<void>((resolve, reject) =>
          sftp.writeFile(`/Library/LaunchDaemons/${label}.plist`, plist(label, ['/bin/sleep', '1000']), (e: Error | null | undefined) =>
            e ? reject(e) : resolve(),
          ),
        );
      });
      expect(existsSync(path.join(gw1.root, 'LaunchDaemons', `${label}.plist`))).toBe(true);

      const missing = await sh(ssh, `launchctl print system/${label}`);
      expect(missing.code).toBe(113);
      expect(missing.stderr).toBe(`Could not find service "${label}" in domain for system\n`);

      const boot = await sh(ssh, `launchctl bootstrap system /Library/LaunchDaemons/${label}.plist`);
      expect(boot).toMatchObject({ code: 0, stderr: '' });
      const again = await sh(ssh, `launchctl bootstrap system /Library/LaunchDaemons/${label}.plist`);
      expect(again.code).toBe(5);
      expect(again.stderr).toBe('Bootstrap failed: 5: Input/output error\n');

      const p1 = await sh(ssh, `launchctl print system/${label}`);
      expect(p1.code).toBe(0);
      expect(p1.stdout).toMatch(new RegExp(`^system/${label.replace(/\./g, '\\.')} = \\{\n\tactive count = 1\n`));
      expect(p1.stdout).toContain(`\tpath = /Library/LaunchDaemons/${label}.plist\n`);
      expect(p1.stdout).toContain('\tstate = running\n');
      expect(p1.stdout).toContain('\tprogram = /bin/sleep\n\targuments = {\n\t\t/bin/sleep\n\t\t1000\n\t}\n');
      expect(p1.stdout).toContain('\tlast exit code = (never exited)\n');
      const pid1 = pidOf(p1.stdout);
      expect(pid1).toBeGreaterThan(1);
      expect((await sh(ssh, `cat /proc/${pid1}/cmdline | tr '\\0' ' '`)).stdout).toBe('/bin/sleep 1000 ');

      const kick = await sh(ssh, `launchctl kickstart -k -p system/${label}`);
      expect(kick.code).toBe(0);
      const p2 = await sh(ssh, `launchctl print system/${label}`);
      const pid2 = pidOf(p2.stdout);
      expect(pid2).toBeDefined();
      expect(pid2).not.toBe(pid1);
      expect(kick.stdout).toBe(`${pid2}\n`);
      expect(p2.stdout).toContain('\truns = 2\n');
      expect(p2.stdout).toContain('\tlast terminating signal = Terminated: 15\n');
      expect((await sh(ssh, `kill -0 ${pid1}`)).code).not.toBe(0);

      const out = await sh(ssh, `launchctl bootout system/${label}`);
      expect(out).toMatchObject({ code: 0, stderr: '' });
      const gone = await sh(ssh, `launchctl print system/${label}; echo "rc=$?"; kill -0 ${pid2} 2>/dev/null || echo dead`);
      expect(gone.stdout).toBe('rc=113\ndead\n');
      expect(gone.stderr).toBe(`Could not find service "${label}" in domain for system\n`);
      const twice = await sh(ssh, `launchctl bootout system/${label}`);
      expect(twice.code).toBe(3);

      const unknown = await sh(ssh, 'launchctl frobnicate system/x');
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toBe('Unrecognized subcommand: frobnicate\n');
      const badTarget = await sh(ssh, `launchctl print ${label}`);
      expect(badTarget.code).toBe(64);

      // enable/disable overrides, print-disabled in macOS format
      await sh(ssh, `launchctl disable system/${label}`);
      const dis = await sh(ssh, 'launchctl print-disabled system');
      expect(dis.stdout).toBe(`disabled services = {\n\t"${label}" => disabled\n}\n`);
      expect((await sh(ssh, `launchctl bootstrap system /Library/LaunchDaemons/${label}.plist`)).code).toBe(5);
      await sh(ssh, `launchctl enable system/${label}`);
      expect((await sh(ssh, 'launchctl print-disabled system')).stdout).toContain(`"${label}" => enabled`);

      // state lives outside the production paths clawops manages
      const clean = await sh(ssh, 'ls -A /etc/openclaw /var/db/openclaw/secrets /var/db/openclaw/clawops');
      expect(clean.stdout).not.toMatch(/launch|status|job/);
    } finally {
      ssh.dispose();
    }
  });

  it('runs a job with the plist\'s environment, working directory and log paths, and keeps it alive', async () => {
    const label = 'ai.openclaw.envtest';
    const plistPath = `/Library/LaunchDaemons/${label}.plist`;
    writeFileSync(
      path.join(gw2.launchDaemonsDir, `${label}.plist`),
      plist(label, ['/bin/sh', '-c', 'echo "$GREETING from $(pwd) as $(id -un)"; echo oops >&2; exec sleep 1000'], `
  <key>EnvironmentVariables</key><dict><key>GREETING</key><string>hello &amp; welcome</string></dict>
  <key>WorkingDirectory</key><string>/var/db/openclaw/clawops</string>
  <key>StandardOutPath</key><string>/var/db/openclaw/clawops/job.out</string>
  <key>StandardErrorPath</key><string>/var/db/openclaw/clawops/job.err</string>
  <key>ThrottleInterval</key><integer>0</integer>`),
    );
    expect((await gw2.exec(`launchctl bootstrap system ${plistPath}`)).code).toBe(0);
    const p1 = (await gw2.exec(`launchctl print system/${label}`)).stdout;
    expect(p1).toContain('\t\tGREETING => hello & welcome\n\t\tXPC_SERVICE_NAME => ai.openclaw.envtest\n');
    expect(p1).toContain('\tstdout path = /var/db/openclaw/clawops/job.out\n');
    const pid1 = pidOf(p1);
    // a crash behind launchd's back: KeepAlive respawns it
    expect((await gw2.exec(`kill -9 ${pid1}`)).code).toBe(0);
    let p2 = '';
    for (let i = 0; i < 100; i++) {
      p2 = (await gw2.exec(`launchctl print system/${label}`)).stdout;
      if (pidOf(p2) !== undefined && pidOf(p2) !== pid1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(pidOf(p2)).not.toBe(pid1);
    expect(p2).toContain('\tlast terminating signal = Killed: 9\n');
    // (the respawned job writes its lines a moment after its pid shows: wait for them, on a loaded machine too)
    const outFile = path.join(gw2.varDbOpenclaw, 'clawops', 'job.out');
    const errFile = path.join(gw2.varDbOpenclaw, 'clawops', 'job.err');
    for (let i = 0; i < 150 && !(readFileSync(outFile, 'utf8').split('\n').length > 2 && readFileSync(errFile, 'utf8').split('\n').length > 2); i++) await new Promise((r) => setTimeout(r, 20));
    const out = readFileSync(outFile, 'utf8');
    expect(out).toBe(`hello & welcome from /var/db/openclaw/clawops as ${FLEET_USER}\n`.repeat(2));
    expect(readFileSync(path.join(gw2.varDbOpenclaw, 'clawops', 'job.err'), 'utf8')).toBe('oops\noops\n');
    // bootout by plist path, as `launchctl bootout system /Library/LaunchDaemons/x.plist`
    expect((await gw2.exec(`launchctl bootout system ${plistPath}`)).code).toBe(0);
    expect((await gw2.exec(`launchctl print system/${label}`)).code).toBe(113);
  });

  it('stop() kills sshd and the node\'s launchd jobs; start() brings it back on the same port and key', async () => {
    const token = `${Date.now() % 1_000_000 + 2_000_000}`; // unique sleep argument to find the job on the host
    const label = 'ai.openclaw.stoptest';
    writeFileSync(path.join(gw2.etcOpenclaw, 'who'), 'gw-2\n');
    writeFileSync(path.join(gw2.root, 'LaunchDaemons', `${label}.plist`), plist(label, ['/bin/sleep', token]));
    const boot = await gw2.exec(`launchctl bootstrap system /Library/LaunchDaemons/${label}.plist`);
    expect(boot.code).toBe(0);
    expect(hostPidsWithArg(token)).toHaveLength(1);

    const sshdPid = gw2.sshdPid();
    expect(sshdPid).toBeDefined();
    const { port, hostKey } = gw2;
    await gw2.stop();
    expect(isAlive(sshdPid ?? -1)).toBe(false);
    expect(hostPidsWithArg(token)).toEqual([]);
    await expect(connect(fleet, gw2)).rejects.toThrow();
    await expect(gw2.exec('true')).rejects.toThrow(/stopped/);

    const t0 = performance.now();
    await gw2.start();
    console.info(`[fleet] node restart ${Math.round(performance.now() - t0)} ms`);
    expect(gw2.port).toBe(port);
    expect(gw2.hostKey).toBe(hostKey);
    const ssh = await connect(fleet, gw2);
    try {
      expect((await sh(ssh, 'cat /etc/openclaw/who')).stdout).toBe('gw-2\n');
      // a restart is a reboot for launchd: nothing is loaded until bootstrapped again
      expect((await sh(ssh, `launchctl print system/${label}`)).code).toBe(113);
    } finally {
      ssh.dispose();
    }
  });

  it('regenerateHostKey() changes the key the node presents', async () => {
    const oldKey = gw1.hostKey;
    const port = gw1.port;
    await gw1.regenerateHostKey();
    expect(gw1.hostKey).not.toBe(oldKey);
    expect(gw1.hostKey).toMatch(/^ssh-ed25519 /);
    expect(gw1.port).toBe(port);
    await expect(connect(fleet, gw1, oldKey)).rejects.toThrow();
    const ssh = await connect(fleet, gw1);
    ssh.dispose();
    const knownHosts = readFileSync(fleet.knownHostsPath, 'utf8');
    expect(knownHosts).toContain(`[127.0.0.1]:${port} ${gw1.hostKey}\n`);
    expect(knownHosts).not.toContain(oldKey);
  });
});

describe.skipIf(!avail.ok)('fleet teardown', () => {
  it('kills exactly the sshds it started and removes its files', async () => {
    const fleet = await startFleet({ names: ['t-1', 't-2'] });
    const pids = fleet.nodes.map((n) => n.sshdPid());
    expect(pids.every((p) => p !== undefined && isAlive(p))).toBe(true);
    const root = path.dirname(fleet.nodes[0]?.root ?? '');
    await fleet.stop();
    for (const p of pids) expect(isAlive(p ?? -1)).toBe(false);
    expect(existsSync(root)).toBe(false);
    expect(fleet.nodes.every((n) => n.sshdPid() === undefined)).toBe(true);
  });
});
