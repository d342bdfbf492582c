/** Ansible against the test fleet, set up as an operator would for a fleet (inventory, ansible.cfg, one playbook). */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Fleet } from '../../test/fleet/fleet.js';
import { pool, run } from './proc.js';

export interface AnsibleFiles {
  dir: string;
  inventory: string;
  cfg: string;
  /** ssh ControlPersist sockets live here: one per host Ansible is connected to */
  cpDir: string;
}

export interface AnsibleResult {
  seconds: number;
  finished: boolean;
  code: number;
  recap: Map<string, { ok: number; changed: number; unreachable: number; failed: number }>;
  /** hosts whose task had finished (ok/changed/failed lines) */
  hostsDone: number;
  /** most ssh ControlPersist connections open at once: hosts Ansible was working on */
  maxConnected: number;
  stdout: string;
  tail: string;
}

/** inventory.ini and ansible.cfg in `dir` (created), for every fleet node. */
export function writeAnsibleSetup(fleet: Fleet, dir: string, forks: number): AnsibleFiles {
  mkdirSync(dir, { recursive: true });
  const inventory = join(dir, 'inventory.ini');
  const lines = ['[fleet]'];
  for (const n of fleet.nodes) lines.push(`${n.name} ansible_host=${n.host} ansible_port=${n.port}`);
  lines.push(
    '',
    '[fleet:vars]',
    `ansible_user=${fleet.nodes[0]!.user}`,
    `ansible_ssh_private_key_file=${fleet.clientKeyPath}`,
    // The node namespaces replace /usr/local/bin, /etc/openclaw, … but share the host's /usr, so /usr/bin/python3
    // (Debian's 3.11) is there for Ansible's modules, as a system Python would be on a managed host.
    'ansible_python_interpreter=/usr/bin/python3',
    `ansible_ssh_common_args='-o UserKnownHostsFile=${fleet.knownHostsPath} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'`,
    '',
  );
  writeFileSync(inventory, lines.join('\n'));
  // Settings an operator would use for a fleet: host keys checked, pipelining on (fewer round trips; in Ansible's
  // favour), ssh ControlPersist (the default) so each host keeps one connection for the whole play.
  const cpDir = join(dir, 'cp');
  mkdirSync(cpDir, { recursive: true });
  const cfg = join(dir, 'ansible.cfg');
  writeFileSync(
    cfg,
    [
      '[defaults]',
      'host_key_checking = True',
      `forks = ${forks}`,
      'retry_files_enabled = False',
      'interpreter_python = /usr/bin/python3',
      `local_tmp = ${join(dir, 'local-tmp')}`,
      '[ssh_connection]',
      'pipelining = True',
      `control_path_dir = ${cpDir}`,
      '',
    ].join('\n'),
  );
  return { dir, inventory, cfg, cpDir };
}

/** A one-task playbook: `copy` of `src` (a directory; its contents with a trailing slash) to `dest` on every host. */
export function writeCopyPlaybook(dir: string, name: string, task: string, src: string, dest: string): string {
  const playbook = join(dir, name);
  writeFileSync(
    playbook,
    ['- hosts: fleet', '  gather_facts: false', '  tasks:', `    - name: ${task}`, '      ansible.builtin.copy:', `        src: ${src}`, `        dest: ${dest}`, ''].join('\n'),
  );
  return playbook;
}

/** ansible-playbook with the setup's config, stopped (with its ssh children) after `budgetS` seconds (0: no limit). */
export async function runPlaybook(a: AnsibleFiles, playbook: string, opts: { forks: number; check?: boolean; budgetS: number }): Promise<AnsibleResult> {
  const env = { ...process.env, ANSIBLE_CONFIG: a.cfg, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' };
  let maxConnected = 0;
  const poll = setInterval(() => {
    maxConnected = Math.max(maxConnected, readdirSync(a.cpDir).length);
  }, 1000);
  const r = await run('ansible-playbook', ['-i', a.inventory, playbook, ...(opts.check ? ['--check'] : []), '--forks', String(opts.forks)], {
    env,
    cwd: a.dir,
    timeoutMs: opts.budgetS * 1000,
  }).finally(() => clearInterval(poll));
  const recap = new Map<string, { ok: number; changed: number; unreachable: number; failed: number }>();
  for (const m of r.stdout.matchAll(/^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    recap.set(m[1]!, { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) });
  }
  const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
  const hostsDone = (r.stdout.match(/^(ok|changed|failed|fatal): \[/gm) ?? []).length;
  return { seconds: r.seconds, finished: !r.killed, code: r.code, recap, hostsDone, maxConnected, stdout: r.stdout, tail };
}

/** Close the ControlPersist masters Ansible left behind (`ssh -O exit` on each socket), so their connections end now. */
export async function closeMasters(a: AnsibleFiles): Promise<number> {
  const socks = readdirSync(a.cpDir).map((s) => join(a.cpDir, s));
  await pool(
    10,
    socks.map((s) => () => run('ssh', ['-o', `ControlPath=${s}`, '-O', 'exit', 'ignored'])),
  );
  return socks.length;
}
