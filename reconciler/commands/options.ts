/** Option parsers shared by the subcommands (commander's argParser): checked when the flags are read, not later. */
import { InvalidArgumentError } from 'commander';

/**
 * A flag that takes one value: given twice it is a usage error, never silently the last one (`rollback --node gw-1
 * --node gw-2` rolling back gw-2 only).
 */
export function once(value: string, previous: string | undefined): string {
  if (previous !== undefined) throw new InvalidArgumentError(`given twice (${previous}, then ${value}): give it once`);
  return value;
}
