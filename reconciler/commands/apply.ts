/** `clawops apply` and `clawops rollback`. */
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { applyFleet } from '../apply/apply-fleet.js';
import type { ApplyEvent, NodeApplyResult, RunContext } from '../apply/apply-node.js';
import { rollbackTenant } from '../apply/rollback.js';
import { ValidationMemo } from '../apply/validation-memo.js';
import { defaultVerdictDir, dirVerdictStore } from '../apply/verdict-cache.js';
import { EXIT_CHANGES, EXIT_OK, UsageError } from '../errors.js';
import { planJson, renderText } from '../report/plan-report.js';
import { loadInventory, selectNodes } from '../source/load.js';
import { connectNode } from '../transport/connect.js';
import { escapeInline, escapeJsonRaw, safeJson } from '../safe-text.js';
import { once } from './options.js';
import type { CliIo } from './io.js';
import { addFleetOptions, connectOptions, observeAndPlan, timingReport, type FleetFlags } from './diff.js';

export const DEFAULT_LOCK_TTL_SEC = 900;

export function actor(): string {
  if (process.env.CLAWOPS_ACTOR) return process.env.CLAWOPS_ACTOR;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()}`;
}

export function newRunId(now: Date = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase()}-${randomBytes(3).toString('hex')}`;
}

/** Progress: a line per node and step on a TTY, pino JSON events otherwise (CLAWOPS_PROGRESS=text|json overrides). Both on stderr. */
export function progressSink(io: CliIo, tty: boolean): (e: ApplyEvent) => void {
  if (tty) {
    return (e) => {
      if (e.state === 'start' && e.message === undefined) return;
      const mark = { start: '…', done: 'ok', warn: '!', fail: 'FAILED' }[e.state];
      // messages quote what nodes said (a lock's owner, a version line, a gateway's answer): never raw to a terminal
      io.stderr(`${escapeInline(e.node).padEnd(14)} ${e.step.padEnd(9)} ${mark}${e.message ? `  ${escapeInline(e.message)}` : ''}\n`);
    };
  }
  const log: Logger = pino({ base: { cmd: 'clawops' }, timestamp: pino.stdTimeFunctions.isoTime, hooks: { streamWrite: escapeJsonRaw } }, { write: (s: string) => io.stderr(s) });
  return (e) => {
    const fields = { node: e.node, step: e.step, state: e.state };
    const msg = e.message === undefined ? undefined : escapeInline(e.message);
    if (e.state === 'fail') log.error(fields, msg ?? 'failed');
    else if (e.state === 'warn') log.warn(fields, msg ?? 'warning');
    else log.info(fields, msg ?? e.state);
  };
}

/** One node's line of the summary; node strings in it (messages, labels) escaped. */
function summaryLine(r: NodeApplyResult): string {
  return escapeInline(summaryText(r));
}

function summaryText(r: NodeApplyResult): string {
  const name = r.node.padEnd(16);
  switch (r.outcome) {
    case 'applied': {
      const sw = r.swapped.map((s) => `${s.tenant} ${s.from ?? '(new)'} → ${s.to}`);
      const reloads = r.reloads.map((u) => `${u.label} ${u.method} pid ${u.oldPid || '-'} → ${u.newPid}`);
      const extra = [...(reloads.length ? [`reloaded ${reloads.join(', ')}`] : []), ...(r.reused.length ? [`reused ${r.reused.join(', ')}`] : []), ...(r.pruned.length ? [`pruned ${r.pruned.length}`] : []), ...(r.removed.length ? [`removed ${r.removed.join(', ')}`] : [])];
      return `${name} applied    ${[...sw, ...extra].join('; ') || 'repaired'}  (${r.bytesSent} bytes sent)`;
    }
    case 'unchanged':
      return `${name} unchanged`;
    case 'skipped':
      return `${name} skipped    ${r.message ?? ''}`;
    default:
      return `${name} ${r.outcome.padEnd(10)} at ${r.step ?? '?'}: ${r.message ?? ''}`;
  }
}

async function confirm(io: CliIo, question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError('stdin is not a terminal: pass --yes to apply without asking, or --dry-run to only see the diff');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

interface ApplyFlags extends FleetFlags {
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  prune?: boolean;
  retryQuarantined?: boolean;
  lockTtl?: string;
  revalidate?: boolean;
}

/** --lock-ttl in seconds; checked first thing in the action, before any node is observed. */
function lockTtlSec(flags: { lockTtl?: string }): number {
  const ttl = flags.lockTtl === undefined ? DEFAULT_LOCK_TTL_SEC : Number(flags.lockTtl);
  if (!Number.isInteger(ttl) || ttl < 10) throw new UsageError(`--lock-ttl ${flags.lockTtl}: want whole seconds ≥ 10`);
  return ttl;
}

function context(io: CliIo, flags: { lockTtl?: string }, extra: { commit?: string; tag?: string }): RunContext {
  const ttl = lockTtlSec(flags);
  return {
    run: newRunId(),
    actor: actor(),
    pid: process.pid,
    lockTtlSec: ttl,
    ...extra,
    now: () => new Date(),
    onEvent: progressSink(io, process.env.CLAWOPS_PROGRESS ? process.env.CLAWOPS_PROGRESS === 'text' : process.stderr.isTTY === true),
  };
}

export function applyCommand(io: CliIo, setExit: (code: number) => void): Command {
  const cmd = new Command('apply').description('stage, validate and swap releases on each node (exit 0 done, 1 a node failed or was refused, 2 error)');
  addFleetOptions(cmd)
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'show the diff and stop (exit like diff)')
    .option('--prune', 'also remove tenants a node has but the repo no longer assigns')
    .option('--retry-quarantined', 'apply releases a node rolled back automatically (quarantined) once more')
    .option('--json', 'machine-readable result on stdout')
    .option('--lock-ttl <sec>', `node lock expiry (default ${DEFAULT_LOCK_TTL_SEC})`)
    .option('--revalidate', 'run `openclaw config validate` on every release, also those an earlier run found valid')
    .action(async (flags: ApplyFlags) => {
      lockTtlSec(flags);
      const r = await observeAndPlan(flags, { prune: flags.prune === true, retryQuarantined: flags.retryQuarantined === true }, !flags.dryRun);
      try {
        const actions = r.plan.nodes.reduce((n, x) => n + x.actions.length, 0);
        if (!flags.json) io.stdout(renderText(r.plan, r.meta));
        // CLAWOPS_TIMING=1: where the time before the first node's lock went (as diff prints it)
        if (process.env.CLAWOPS_TIMING) io.stderr(timingReport({ ...r.marks, reported: performance.now() }, r.fleet.timings));
        if (flags.dryRun) {
          if (flags.json) io.stdout(`${safeJson(planJson(r.plan, r.meta), 2)}\n`);
          setExit(r.plan.inSync ? EXIT_OK : EXIT_CHANGES);
          return;
        }
        // tenants apply leaves alone (not clawops-owned, secrets missing, quarantined): never a silent success
        const blockedTenants = r.plan.nodes.flatMap((n) => n.tenants.filter((t) => t.state === 'Blocked').map((t) => ({ n, tenant: t.tenant })));
        const blocked = blockedTenants.map(({ n, tenant }) => `${n.node}/${tenant}`);
        // (and why, for --json: the plan's errors about each blocked tenant)
        const refusals = blockedTenants.flatMap(({ n, tenant }) => n.issues.filter((i) => i.tenant === tenant && i.severity === 'error').map((i) => ({ node: n.node, tenant, reason: i.reason, message: i.message })));
        const blockedJson = blocked.length ? { blocked, refusals } : {};
        if (actions === 0 && r.plan.nodes.every((n) => !n.blocked)) {
          if (flags.json) io.stdout(`${safeJson({ ok: blocked.length === 0, results: [], ...blockedJson }, 2)}\n`);
          else io.stdout(blocked.length ? `Nothing can be applied: ${blocked.join(', ')} blocked (see above).\n` : 'Nothing to apply.\n');
          setExit(blocked.length ? EXIT_CHANGES : EXIT_OK);
          return;
        }
        if (r.source.dirty) io.stderr(`clawops: warning: ${r.source.origin} has uncommitted changes; the reload log records commit ${r.source.commit?.slice(0, 12) ?? '(none)'} which is not what is deployed\n`);
        if (!flags.yes && !(await confirm(io, `Apply ${actions} change(s) to ${r.plan.nodes.filter((n) => n.actions.length > 0).length} node(s)? [y/N] `))) {
          io.stdout('Aborted; nothing was changed.\n');
          setExit(EXIT_CHANGES);
          return;
        }
        const ctx = context(io, flags, { ...(r.source.commit ? { commit: r.source.commit } : {}), ...(r.source.tag ? { tag: r.source.tag } : {}) });
        // ^C: let every node finish the step it is in, clean up and release its lock; a second ^C quits at once
        const abort = new AbortController();
        const onSigint = (): void => {
          if (abort.signal.aborted) process.exit(130);
          abort.abort();
          io.stderr('clawops: interrupted: stopping each node after its current step and releasing node locks (^C again to quit now)\n');
        };
        process.on('SIGINT', onSigint);
        let res: Awaited<ReturnType<typeof applyFleet>>;
        try {
          // the dead-man guard is confirmed over a NEW connection: proof this run can still reach the node
          const co = connectOptions(flags, r.source);
          const reconnect = async (name: string) => connectNode(r.nodes.find((n) => n.name === name)!, r.desired.settings, co);
          // valid verdicts of earlier runs (same release bytes, same OpenClaw build) spare their validation
          const validations = new ValidationMemo({ store: dirVerdictStore(defaultVerdictDir(), { read: flags.revalidate !== true }), run: ctx.run });
          res = await applyFleet(r.plan, r.desired, r.fleet.transports, { ...ctx, signal: abort.signal, reconnect, validations }, r.concurrency);
        } finally {
          process.off('SIGINT', onSigint);
        }
        const ok = res.ok && blocked.length === 0;
        if (flags.json) io.stdout(`${safeJson({ ok, run: ctx.run, ...(res.halted ? { halted: res.halted } : {}), ...blockedJson, results: res.results }, 2)}\n`);
        else {
          io.stdout(`\nApply ${ctx.run}\n`);
          for (const x of res.results) io.stdout(`  ${summaryLine(x)}\n`);
          if (res.halted) io.stdout(`Stopped before the remaining nodes: ${escapeInline(res.halted)}.\n`);
          if (blocked.length) io.stdout(`Left alone (blocked): ${blocked.join(', ')}.\n`);
          io.stdout(ok ? 'Done.\n' : 'Not everything was applied.\n');
        }
        setExit(ok ? EXIT_OK : EXIT_CHANGES);
      } finally {
        await Promise.all([...r.fleet.transports.values()].map((t) => t.close()));
        r.source.cleanup();
      }
    });
  return cmd;
}

export function rollbackCommand(io: CliIo, setExit: (code: number) => void): Command {
  const cmd = new Command('rollback').description("swap a tenant's current and .prev releases on one node (again to go forward)");
  cmd
    .option('--repo <path|url>', 'infra repo, for the inventory (default: the current directory)', '.')
    .option('--ref <ref>', 'branch, tag or commit of the repo')
    .requiredOption('--node <name>', 'the node', once)
    .requiredOption('--tenant <id>', 'the tenant', once)
    .option('--identity <file>', 'ssh private key')
    .option('--known-hosts <file>', 'known_hosts for nodes without a pinned host_key')
    .option('--lock-ttl <sec>', `node lock expiry (default ${DEFAULT_LOCK_TTL_SEC})`)
    .action(async (flags: FleetFlags & { node: string; tenant: string; lockTtl?: string }) => {
      lockTtlSec(flags);
      const { source, desired } = await loadInventory(flags.repo, flags.ref);
      try {
        const [node] = selectNodes(desired, [flags.node]);
        const ctx = context(io, flags, {});
        const t = await connectNode(node!, desired.settings, connectOptions({ ...flags, node: [flags.node] }, source));
        try {
          const r = await rollbackTenant(t, flags.tenant, desired.settings, ctx, { portOffset: node!.port_offset ?? 0 });
          io.stdout(`${r.node}/${r.tenant}: rolled back ${r.from} → ${r.to} (run ${ctx.run}); roll back again to return to ${r.from}\n`);
          setExit(EXIT_OK);
        } finally {
          await t.close();
        }
      } finally {
        source.cleanup();
      }
    });
  return cmd;
}
