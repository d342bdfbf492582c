/**
 * `clawops probe serve`: one tenant's composite readiness endpoint. Registered by reconciler/cli.ts.
 * Runs until SIGTERM/SIGINT, then stops its checkers (killing a doctor run in flight) and closes.
 *
 * Defaults follow the node layout (DESIGN §3): the policy is /etc/openclaw/tenants/<tenant>/doctor.json; the
 * rendered openclaw.json beside it (same release) is doctor's OPENCLAW_CONFIG_PATH and, without --gateway-url,
 * gives the gateway port (profiles sit ≥ 20 ports apart, so 18789 is only right for one of them).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import type { Logger } from 'pino';
import { settingsWithDefaults } from '../desired/defaults.js';
import { RENDERED_FILES } from '../desired/types.js';
import { UsageError } from '../errors.js';
import { inheritProgramSettings, serveUntilSignal } from '../notifier/cli.js';
import { parseListen } from '../notifier/listen-address.js';
import { createLogger } from '../notifier/logger.js';
import { defaultPolicyPath } from './policy.js';
import { startProbe, type ProbeOptions } from './service.js';

const TENANT_RE = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
export const DEFAULT_GATEWAY_PORT = 18789;

export interface ProbeServeFlags {
  tenant: string;
  listen: string;
  policy?: string;
  gatewayUrl?: string;
  digestUrl: string;
  openclaw: string;
  openclawConfig?: string;
  stateDir?: string;
}

/** gateway.port from the rendered openclaw.json, if there is one. */
export function gatewayPortFromConfig(configPath: string): number | undefined {
  try {
    const doc = JSON.parse(readFileSync(configPath, 'utf8')) as { gateway?: { port?: unknown } };
    const port = doc.gateway?.port;
    return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

function httpUrl(flag: string, v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol === 'http:' || u.protocol === 'https:') return v;
  } catch {
    /* fall through */
  }
  throw new UsageError(`${flag} "${v}": expected an http(s) URL`);
}

/** Turn CLI flags into service options (throws UsageError); exported for tests. */
export function probeOptionsFromFlags(flags: ProbeServeFlags, logger: Logger): ProbeOptions {
  if (!TENANT_RE.test(flags.tenant)) throw new UsageError(`--tenant "${flags.tenant}": not a tenant id`);
  const policyFile = flags.policy ?? defaultPolicyPath(flags.tenant);
  const sibling = join(dirname(policyFile), RENDERED_FILES.gateway);
  const configPath = flags.openclawConfig ?? (existsSync(sibling) ? sibling : undefined);
  const port = (configPath !== undefined ? gatewayPortFromConfig(configPath) : undefined) ?? DEFAULT_GATEWAY_PORT;
  const opts: ProbeOptions = {
    tenant: flags.tenant,
    listen: parseListen(flags.listen),
    policyFile,
    gatewayUrl: httpUrl('--gateway-url', flags.gatewayUrl ?? `http://127.0.0.1:${port}`),
    digestUrl: httpUrl('--digest-url', flags.digestUrl),
    openclaw: flags.openclaw,
    stateDir: flags.stateDir ?? join(homedir(), `.openclaw-${flags.tenant}`),
    exportStateDir: flags.stateDir !== undefined,
    logger,
  };
  if (configPath !== undefined) opts.configPath = configPath;
  return opts;
}

export function probeCommand(): Command {
  const d = settingsWithDefaults({}).probe;
  const cmd = new Command('probe').description("composite readiness of one tenant's gateway");
  cmd
    .command('serve')
    .description('serve GET /readyz (200 ok|degraded, 503 fail) until SIGTERM/SIGINT')
    .requiredOption('--tenant <id>', 'tenant (OpenClaw profile)')
    .requiredOption('--listen <host:port>', 'HTTP address, e.g. 127.0.0.1:8450')
    .option('--policy <doctor.json>', 'rendered doctor policy (default /etc/openclaw/tenants/<tenant>/doctor.json)')
    .option('--gateway-url <url>', `the gateway's base URL (default http://127.0.0.1:<gateway.port from openclaw.json beside the policy, else ${DEFAULT_GATEWAY_PORT}>)`)
    .option('--digest-url <url>', "the notifier's digest", d.digest_url)
    .option('--openclaw <path>', 'the openclaw executable', 'openclaw')
    .option('--openclaw-config <path>', 'OPENCLAW_CONFIG_PATH for doctor (default: openclaw.json beside the policy, if present)')
    .option('--state-dir <dir>', 'profile state dir; queue paths are relative to it (default ~/.openclaw-<tenant>); also passed to doctor as OPENCLAW_STATE_DIR')
    .action(async (flags: ProbeServeFlags) => {
      const logger = createLogger('clawops-probe');
      const handle = await startProbe(probeOptionsFromFlags(flags, logger));
      await serveUntilSignal(handle, logger);
    });
  return inheritProgramSettings(cmd);
}
