// vitest setupFiles: runs before each test file, in its worker. Each file gets its own verdict store (the CLI's
// $XDG_CACHE_HOME/clawops/verdicts): a release one of the file's applies found valid is not validated again by a later
// apply of the same file (as for an operator), while no other file's runs, and no earlier suite run, change what a
// test sees: the files run in parallel, in any order.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'xdg-cache-'));
