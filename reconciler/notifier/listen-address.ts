/**
 * `host:port` for --listen flags (probe and notifier). Loopback is the intended use; we do not forbid other
 * addresses because a notifier node may front a private network, but the defaults are always 127.0.0.1.
 */
import { UsageError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new UsageError(`--listen "${value}": expected host:port, e.g. 127.0.0.1:9099`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--listen "${value}": port must be 0-65535`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/** The `http://host:port` base of a bound server (IPv6 hosts in brackets). */
export function httpBase(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
