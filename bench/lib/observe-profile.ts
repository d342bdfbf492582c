/**
 * Where a node's observe time goes (controller-bench --profile): the observe script (reconciler/observe) run on one
 * node over one ssh connection, alone (no other node busy), as is and traced: bash with `PS4=+$EPOCHREALTIME` and
 * xtrace gives each traced command's time up to the next trace line (a command that forks or waits on a child is
 * charged that time), and `strace -f -e trace=execve` counts the programs it starts. Also `launchctl print system`
 * (the fleet's launchctl stand-in is a Node script; macOS has a native one) timed alone.
 */
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { OBSERVE_SCRIPT } from '../../reconciler/observe/observe-script.js';
import { connectNode } from '../../reconciler/transport/connect.js';
import { shQuote, type Transport } from '../../reconciler/transport/transport.js';
import { median } from './proc.js';

export interface ObserveProfile {
  node: string;
  scriptBytes: number;
  stdinBytes: number;
  /** the observe command alone, ms (median of runs): an unchanged node, answering from its kept answer */
  aloneMs: number;
  /** the same with the cache bypassed (4th argument `verify`): a full observe, as after any change */
  fullAloneMs: number;
  /** CPU time (user + system) of one observe on the node, its children included, ms (median): kept answer */
  cpuMs: number;
  /** the same, full observe */
  fullCpuMs: number;
  /** `launchctl print system` alone, ms (median) */
  launchctlMs: number;
  /** CPU time of `launchctl print system` alone, ms (median) */
  launchctlCpuMs: number;
  /** programs exec'd by one observe (strace), or undefined when strace cannot run there: kept answer, full */
  execs: number | undefined;
  fullExecs: number | undefined;
  /** the most frequent programs exec'd */
  topExecs: [string, number][];
  /** traced time by command word, ms, largest first */
  byCommand: [string, number, number][];
  tracedMs: number;
  /** the same for an observe answering from the kept answer */
  keptByCommand: [string, number, number][];
  keptTracedMs: number;
}

async function timed(t: Transport, cmd: string, stdin: string | undefined, runs: number): Promise<{ ms: number; out: string; err: string }> {
  const xs: number[] = [];
  let out = '';
  let err = '';
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await t.exec(cmd, stdin !== undefined ? { stdin } : {});
    xs.push(performance.now() - t0);
    if (r.code !== 0) throw new Error(`profile on ${t.node}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    out = r.stdout;
    err = r.stderr;
  }
  return { ms: median(xs), out, err };
}

export async function profileObserve(desired: DesiredState, spec: NodeSpec, identityFile: string, runs = 5): Promise<ObserveProfile> {
  const t = await connectNode(spec, desired.settings, { identityFile });
  try {
    const p = t.paths(desired.settings.paths);
    const stdin = expectations(desired, spec.tenants);
    const args = `clawops-observe ${shQuote(p.etc)} ${shQuote(p.varDb)} ${shQuote(p.launchDaemons)}`;
    const path = p.binDir ? `PATH=${shQuote(p.binDir)}:"$PATH" ` : '';
    const plain = `${path}sh -c ${shQuote(OBSERVE_SCRIPT)} ${args}`;
    const verify = `${plain} verify`;
    await timed(t, plain, stdin, 1); // warm the node's page cache and the version cache
    const fullAlone = await timed(t, verify, stdin, runs);
    const alone = await timed(t, plain, stdin, runs);
    if (!alone.out.includes('["answer","kept"')) throw new Error(`profile on ${t.node}: the observe after a full one did not answer from the kept answer`);
    const launchctl = await timed(t, `${path}launchctl print system >/dev/null 2>&1; true`, undefined, runs);
    // CPU: bash's `times` after the command (second line: children's user and system time)
    const cpuOf = async (cmd: string, input: string | undefined): Promise<number> => {
      const xs: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await t.exec(`bash -c ${shQuote(`${cmd} >/dev/null 2>&1; times`)}`, input !== undefined ? { stdin: input } : {});
        const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(r.stdout.trim().split('\n')[1] ?? '');
        if (!m) throw new Error(`profile on ${t.node}: cannot read \`times\`: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}`);
        xs.push((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000);
      }
      return median(xs);
    };
    const cpuMs = await cpuOf(plain, stdin);
    const fullCpuMs = await cpuOf(verify, stdin);
    const launchctlCpuMs = await cpuOf(`${path}launchctl print system`, undefined);

    // xtrace: every command with a timestamp; charged the time up to the next trace line
    const trace = async (extra: string): Promise<{ by: [string, number, number][]; ms: number }> => {
      const traced = await timed(t, `${path}bash -c ${shQuote(`PS4='+\${EPOCHREALTIME} '; set -x\n${OBSERVE_SCRIPT}`)} ${args}${extra} 2>&1 >/dev/null`, stdin, 1);
      const lines = traced.out.split('\n').map((l) => /^(\++)(\d+\.\d+) (.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
      const evs = lines.map((m) => ({ ts: Number(m[2]) * 1000, cmd: (m[3] ?? '').trim().split(/\s+/)[0]?.replace(/^[A-Z_]+=.*/, 'assign') ?? '?' })).sort((a, b) => a.ts - b.ts);
      const by = new Map<string, [number, number]>();
      for (let i = 0; i + 1 < evs.length; i++) {
        const e = evs[i]!;
        const have = by.get(e.cmd) ?? [0, 0];
        by.set(e.cmd, [have[0] + (evs[i + 1]!.ts - e.ts), have[1] + 1]);
      }
      return { by: [...by].map(([k, [ms, n]]) => [k, ms, n] as [string, number, number]).sort((a, b) => b[1] - a[1]).slice(0, 12), ms: evs.length > 1 ? evs[evs.length - 1]!.ts - evs[0]!.ts : 0 };
    };
    const fullTrace = await trace(' verify');
    const keptTrace = await trace('');

    // strace: programs started by one observe. Successful execs only (-z): a shell looks a program up by trying each
    // PATH directory in turn, and every failed try is an execve too (on the bench host 73 calls for 44 programs)
    const straced = async (extra: string): Promise<{ execs: number | undefined; top: [string, number][] }> => {
      const st = await t.exec(`command -v strace >/dev/null 2>&1 || exit 3; ${path}strace -f -qq -z -e trace=execve -e signal=none -o /dev/stderr sh -c ${shQuote(OBSERVE_SCRIPT)} ${args}${extra} >/dev/null`, { stdin });
      if (st.code !== 0) return { execs: undefined, top: [] };
      const ex = st.stderr.split('\n').map((l) => /execve\("([^"]+)"/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
      const count = new Map<string, number>();
      for (const x of ex) count.set(x.split('/').pop() ?? x, (count.get(x.split('/').pop() ?? x) ?? 0) + 1);
      return { execs: ex.length, top: [...count].sort((a, b) => b[1] - a[1]).slice(0, 10) };
    };
    const fullSt = await straced(' verify');
    const keptSt = await straced('');
    const execs = keptSt.execs;
    const topExecs = keptSt.top;
    return {
      node: spec.name,
      scriptBytes: Buffer.byteLength(OBSERVE_SCRIPT),
      stdinBytes: Buffer.byteLength(stdin),
      aloneMs: alone.ms,
      fullAloneMs: fullAlone.ms,
      cpuMs,
      fullCpuMs,
      launchctlMs: launchctl.ms,
      launchctlCpuMs,
      execs,
      fullExecs: fullSt.execs,
      topExecs,
      byCommand: fullTrace.by,
      tracedMs: fullTrace.ms,
      keptByCommand: keptTrace.by,
      keptTracedMs: keptTrace.ms,
    };
  } finally {
    await t.close();
  }
}
