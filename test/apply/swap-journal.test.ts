/**
 * The swap journal's rule (settle_intent, remote-scripts.ts), on a node tree in a temp dir and the machine's own sh:
 * a record whose swap is marked done is recorded whatever the link says now (the swap happened and was undone later);
 * an unmarked record only when it is its tenant's last and the link points at its release; the dead-man guard's own
 * records as they are; marks and lines that are not in clawops' exact forms never count; a log that cannot take them
 * keeps the intent. UNLOCK runs it (the same function BEGIN's recovery and FINISH run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UNLOCK_SCRIPT } from '../../reconciler/apply/remote-scripts.js';

const V1 = '1111111111111111';
const V2 = '2222222222222222';
const RUN = 'r20261129-journal';
const rec = (action: 'apply' | 'rollback', tenant: string, to: string, from?: string, extra = ''): string =>
  `{"time":"2026-11-29T20:00:00.000Z","action":"${action}","node":"gw-1","tenant":"${tenant}","release_id":"${to}",${from ? `"prev_release_id":"${from}",` : ''}"actor":"t","run":"${RUN}"${extra}}`;
const dmr = (tenant: string, to: string, from: string, detail = ' ai.openclaw.acme pid 1->2'): string =>
  `{"time":"2026-11-29T20:00:09Z","action":"DeadManRollback","tenant":"${tenant}","release_id":"${to}","prev_release_id":"${from}","run":"${RUN}","detail":"${detail}"}`;
const AUTO = `,"reason":"HealthCheckFailed","automatic":true,"quarantined":"${V2}"`;

describe('settle_intent: which records of an intent are recorded', () => {
  let root: string;
  const etc = (): string => join(root, 'etc');
  const dir = (): string => join(root, 'var/clawops');
  const link = (tenant: string, id: string): void => {
    rmSync(join(etc(), 'tenants', tenant), { force: true });
    symlinkSync(`../releases/${tenant}/${id}`, join(etc(), 'tenants', tenant));
  };
  const settle = (lines: string[]): { out: string; log: string[]; kept: boolean } => {
    writeFileSync(join(dir(), `intent.${RUN}`), lines.map((l) => `${l}\n`).join(''));
    const r = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), join(root, 'var'), RUN], { encoding: 'utf8' });
    const logFile = join(dir(), 'reload.log');
    const log = existsSync(logFile) && !statSync(logFile).isDirectory() ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    return { out: r.stdout, log, kept: existsSync(join(dir(), `intent.${RUN}`)) };
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-journal-'));
    mkdirSync(join(etc(), 'tenants'), { recursive: true });
    for (const id of [V1, V2]) mkdirSync(join(etc(), 'releases/acme', id), { recursive: true });
    mkdirSync(dir(), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('an automatic rollback journalled in full (the swap marked, the undo\'s record, its mark): both recorded, in order', () => {
    link('acme', V1);
    const r = settle([rec('apply', 'acme', V2, V1), `done acme ${V2}`, rec('rollback', 'acme', V1, V2, AUTO), `done acme ${V1}`]);
    expect(r.log).toEqual([rec('apply', 'acme', V2, V1), rec('rollback', 'acme', V1, V2, AUTO)]);
    expect(r.kept).toBe(false);
  });

  it('a swap never undone (no mark): recorded by its link, as before marks existed', () => {
    link('acme', V2);
    expect(settle([rec('apply', 'acme', V2, V1)]).log).toEqual([rec('apply', 'acme', V2, V1)]);
  });

  it('a swap that never happened (no mark, the link elsewhere): not recorded', () => {
    link('acme', V1);
    expect(settle([rec('apply', 'acme', V2, V1)]).log).toEqual([]);
  });

  it('an undo whose relink failed (its record unmarked, the link still on the swap): the swap once, no swap back claimed', () => {
    link('acme', V2);
    expect(settle([rec('apply', 'acme', V2, V1), `done acme ${V2}`, rec('rollback', 'acme', V1, V2, AUTO)]).log).toEqual([rec('apply', 'acme', V2, V1)]);
  });

  it('killed between the relink and its mark: the undo recorded by its link, the swap by its mark', () => {
    link('acme', V1);
    expect(settle([rec('apply', 'acme', V2, V1), `done acme ${V2}`, rec('rollback', 'acme', V1, V2, AUTO)]).log).toEqual([rec('apply', 'acme', V2, V1), rec('rollback', 'acme', V1, V2, AUTO)]);
  });

  it('the dead-man guard: the swap it undid marked, its own record kept there because the log could not take it: both recorded', () => {
    link('acme', V1);
    expect(settle([rec('apply', 'acme', V2, V1), `done acme ${V2}`, dmr('acme', V1, V2)]).log).toEqual([rec('apply', 'acme', V2, V1), dmr('acme', V1, V2)]);
  });

  it('a first deploy undone (link removed, release id empty): the swap and the undo recorded by their marks', () => {
    const undo = rec('rollback', 'acme', '', V2, AUTO);
    expect(settle([rec('apply', 'acme', V2), `done acme ${V2}`, undo, 'done acme ']).log).toEqual([rec('apply', 'acme', V2), undo]);
  });

  it('a mark counts only after its record, once, for the same tenant and release; marks and records not in clawops\' forms count for nothing', () => {
    link('acme', V1);
    const r = settle([
      `done acme ${V2}`, // before any record: marks nothing
      rec('apply', 'acme', V2, V1),
      `done globex ${V2}`, // another tenant
      `done acme ${V2.slice(1)}`, // another release
      `done  acme ${V2}`, // not the form
      `done acme ${V2} x`,
      `{"time":"2026-11-29T20:00:09Z","action":"DeadManRollback","tenant":"acme","release_id":"${V1}","prev_release_id":"${V2}","run":"${RUN}","detail":"x","forged":"1"}`,
      `${dmr('acme', V1, V2)}\r${rec('apply', 'acme', V1)}`,
      rec('rollback', 'acme', V1, V2, ',"reason":"Anything","automatic":false'),
    ]);
    expect(r.log).toEqual([]);
  });

  it('the log cannot be written: record-failed, the intent kept whole for the next run', () => {
    link('acme', V1);
    // (a directory in its place: no regular file takes records, root or not)
    mkdirSync(join(dir(), 'reload.log'));
    const lines = [rec('apply', 'acme', V2, V1), `done acme ${V2}`, dmr('acme', V1, V2)];
    const r = settle(lines);
    expect(r.out).toMatch(/^record-failed\t.*reload\.log is not a regular file/m);
    expect(r.kept).toBe(true);
    expect(readFileSync(join(dir(), `intent.${RUN}`), 'utf8')).toBe(lines.map((l) => `${l}\n`).join(''));
  });
});
