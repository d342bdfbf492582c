/**
 * pino JSON on stderr for the long-running servers (notifier, probe). Secret-looking keys are redacted as a last
 * line of defence; the real rule is that secrets are never handed to the logger in the first place.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { escapeJsonRaw } from '../safe-text.js';

export const REDACT_PATHS = ['slackUrl', 'slack_url', 'password', 'pass', 'token', '*.slackUrl', '*.slack_url', '*.password', '*.pass', '*.token'];

export function createLogger(name: string, dest?: DestinationStream, level = process.env.CLAWOPS_LOG_LEVEL ?? 'info'): Logger {
  // (every line escaped as safeJson escapes: DEL, C1 and U+2028/2029 never reach a terminal raw)
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, hooks: { streamWrite: escapeJsonRaw } }, dest ?? pino.destination({ fd: 2, sync: true }));
}
