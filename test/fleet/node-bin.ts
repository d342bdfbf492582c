/**
 * What every kind of test node gets in its /usr/local/bin besides OpenClaw (fleet nodes, local nodes, the local apply
 * and controller tests; `make demo` does the same in sh), each with its shebang pinned to a Node that exists on the node:
 *   - launchctl: the sh front end (scripts/launchctl.sh) as `launchctl`, answering `print` itself, and the Node
 *     stand-in (scripts/launchctl-standin.mjs) beside it as `launchctl-standin`;
 *   - the fake gateway (test/fleet/fake-gateway.mjs) as `fake-openclaw-gateway`, which the test repos' units run
 *     instead of `openclaw gateway run`.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCRIPTS = path.resolve(HERE, '..', '..', 'scripts');
export const LAUNCHCTL_SH_SOURCE = path.join(SCRIPTS, 'launchctl.sh');
const LAUNCHCTL_STANDIN_SOURCE = path.join(SCRIPTS, 'launchctl-standin.mjs');
const FAKE_GATEWAY_SOURCE = path.join(HERE, 'fake-gateway.mjs');

/** Write `text` to binDir/name as an executable. */
function install(binDir: string, name: string, text: string): void {
  const file = path.join(binDir, name);
  writeFileSync(file, text, { mode: 0o755 });
  chmodSync(file, 0o755);
}

/** A Node script with its first line replaced by a shebang naming `node`. */
const pinned = (source: string, node: string): string => readFileSync(source, 'utf8').replace(/^#!.*\n/, `#!${node}\n`);

/** Write `launchctl` and `launchctl-standin` into binDir (a node's /usr/local/bin); `node` runs the stand-in. */
export function installLaunchctl(binDir: string, node: string): void {
  install(binDir, 'launchctl-standin', pinned(LAUNCHCTL_STANDIN_SOURCE, node));
  install(binDir, 'launchctl', readFileSync(LAUNCHCTL_SH_SOURCE, 'utf8'));
}

/** Write `fake-openclaw-gateway` into binDir; `node` runs it. */
export function installFakeGateway(binDir: string, node: string): void {
  install(binDir, 'fake-openclaw-gateway', pinned(FAKE_GATEWAY_SOURCE, node));
}
