/**
 * The controller's source: a mirror cloned once into the state dir and fetched every pass; force-pushed branches and
 * moved tags are followed and logged; an unreachable repo leaves the fleet as it is, with SourceUnavailable in the
 * status and the next pass sooner (its own backoff, capped by the interval).
 */
import { mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GitMirror } from '../../reconciler/controller/git-mirror.js';
import { hardenedGitEnv } from '../../reconciler/source/git-source.js';
import type { Controller } from '../../reconciler/controller/loop.js';
import { git } from '../helpers/fleet-repo.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { ACME, acmeLevel, makeOrigin, newController, node } from './helpers.js';


describe('the git mirror', () => {
  it('runs git with the hardened environment source/ uses: no prompt, and git config from the environment is not let in', async () => {
    // (HOME of its own, no system config: nothing of the machine's git config is carried over)
    const home = mkdtempSync(join(tmpdir(), 'clawops-home-'));
    const env = hardenedGitEnv({ PATH: '/usr/bin', HOME: home, EDITOR: 'vim', GIT_CONFIG_COUNT: '1', GIT_SSH_COMMAND: 'ssh -i /k', GIT_SSL_CAINFO: '/ca.pem', SSH_ASKPASS: '/usr/libexec/ssh-askpass' });
    const own = { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh' };
    const carried = Object.fromEntries(Object.entries(env).filter(([k]) => /^GIT_CONFIG_(COUNT|KEY_|VALUE_)/.test(k)));
    expect(Object.fromEntries(Object.entries(env).filter(([k]) => !(k in carried)))).toEqual({ PATH: '/usr/bin', HOME: home, GIT_SSH_COMMAND: 'ssh -i /k', GIT_SSL_CAINFO: '/ca.pem', GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C', ...own });
    // the config every git of clawops gets: the operator's GIT_CONFIG_COUNT replaced by clawops' own entries, last
    const n = Number(carried.GIT_CONFIG_COUNT);
    const entries = Array.from({ length: n }, (_, i) => [carried[`GIT_CONFIG_KEY_${i}`], carried[`GIT_CONFIG_VALUE_${i}`]]);
    expect(entries.slice(-2)).toEqual([['core.hooksPath', '/dev/null'], ['core.fsmonitor', 'false']]);
    // a config injected through the environment would send the mirror's fetch elsewhere; the mirror never sees it
    const origin = makeOrigin({});
    const saved = { ...process.env };
    Object.assign(process.env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `url./nonexistent/elsewhere.git.insteadOf`, GIT_CONFIG_VALUE_0: origin.bare });
    try {
      const m = new GitMirror(origin.bare, join(mkdtempSync(join(tmpdir(), 'clawops-mirror-')), 'repo.git'));
      expect((await m.fetch()).refs.find((r) => r.name === 'refs/heads/main')?.commit).toBe(origin.head());
    } finally {
      for (const k of ['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']) if (saved[k] === undefined) delete process.env[k];
    }
  });

  it('a steady pass reads HEAD and clawops.yaml without a git process: HEAD from the refs of the fetch, files of a commit remembered', async () => {
    const origin = makeOrigin({ 'clawops.yaml': 'a: 1\n' });
    const dir = join(mkdtempSync(join(tmpdir(), 'clawops-mirror-')), 'repo.git');
    const m = new GitMirror(origin.bare, dir);
    await m.fetch();
    const c1 = origin.head();
    expect(await m.head()).toBe(c1);
    expect(await m.show(c1, 'clawops.yaml')).toBe('a: 1\n');
    expect(await m.show(c1, 'nope.yaml')).toBeUndefined();
    const c2 = origin.commit({ 'clawops.yaml': 'a: 2\n' });
    origin.push();
    await m.fetch();
    // git can no longer read the mirror's objects: what a steady pass asks again still answers, from memory
    renameSync(join(dir, 'objects'), join(dir, 'objects.away'));
    expect(await m.head()).toBe(c2);
    expect(await m.show(c1, 'clawops.yaml')).toBe('a: 1\n');
    expect(await m.show(c1, 'nope.yaml')).toBeUndefined();
    // a commit it has not read is read from git (and fails here, as git does)
    expect(await m.show(c2, 'clawops.yaml')).toBeUndefined();
    renameSync(join(dir, 'objects.away'), join(dir, 'objects'));
    expect(await m.show(c2, 'clawops.yaml')).toBe('a: 2\n');
  });

  it('clones once, then follows fast-forwards, force-pushes, moved and deleted tags', async () => {
    const origin = makeOrigin({});
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    origin.tag('doomed', c1);
    const m = new GitMirror(origin.bare, join(mkdtempSync(join(tmpdir(), 'clawops-mirror-')), 'repo.git'));
    const first = await m.fetch();
    expect(first.changes).toEqual([]);
    expect(first.refs.find((r) => r.name === 'refs/tags/release/1')).toMatchObject({ commit: c1, date: Date.parse('2026-11-01T00:00:00Z') / 1000 });

    const c2 = origin.commit({ [ACME]: acmeLevel('warn') });
    origin.push();
    expect((await m.fetch()).changes).toEqual([{ kind: 'advanced', ref: 'refs/heads/main', from: c1, to: c2 }]);
    expect(await m.fetch()).toMatchObject({ changes: [] });

    // rewrite main (amend + force-push), move release/1 onto it, delete a tag
    git(origin.work, 'commit', '-q', '--amend', '-m', 'rewritten');
    const c2b = origin.head();
    origin.push();
    origin.tag('release/1', c2b, { force: true });
    git(origin.work, 'push', '-q', 'origin', ':refs/tags/doomed');
    const r = await m.fetch();
    expect(r.changes).toEqual([
      { kind: 'forced', ref: 'refs/heads/main', from: c2, to: c2b },
      { kind: 'deleted', ref: 'refs/tags/doomed', commit: c1 },
      { kind: 'moved', ref: 'refs/tags/release/1', from: c1, to: c2b },
    ]);
    expect(r.refs.map((x) => [x.name, x.commit])).toEqual([
      ['refs/heads/main', c2b],
      ['refs/tags/release/1', c2b],
    ]);
    expect(await m.show(c2b, ACME)).toContain('level: warn');
    expect(await m.show(c2b, 'no/such/file')).toBeUndefined();

    // a state dir mirroring another repo is refused
    const other = makeOrigin({});
    await expect(new GitMirror(other.bare, m.dir).fetch()).rejects.toThrow(/mirrors .* not .*; use another --state-dir/);
  }, 60_000);
});

describe.skipIf(!openclawCache())('the controller and its source', () => {
  const controllers: Controller[] = [];
  const locals: LocalController[] = [];
  afterEach(async () => {
    for (const c of controllers.splice(0)) await c.close();
    for (const l of locals.splice(0)) await l.close();
  });

  it('logs a force-push and a moved tag and follows both; an unreachable repo is SourceUnavailable and the fleet stays as it is', async () => {
    const lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }], prefix: 'clawops-ctl-src-' });
    locals.push(lc);
    const { origin } = lc;
    const c1 = origin.head();
    origin.tag('release/1', c1);
    const { c, log, clock } = await lc.start({ intervalMs: 600_000 });
    await c.runPass();
    const c2 = origin.commit({ [ACME]: acmeLevel('warn') });
    origin.push();
    await c.runPass();
    git(origin.work, 'commit', '-q', '--amend', '-m', 'rewritten');
    const c2b = origin.head();
    origin.push();
    origin.tag('release/1', c2b, { force: true });
    await c.runPass();
    const warns = log.lines().filter((l) => l.stage === 'fetch' && l.level === 40).map((l) => l.msg);
    expect(warns).toEqual([
      `refs/heads/main was force-pushed: ${c2.slice(0, 7)} → ${c2b.slice(0, 7)} (not a fast-forward); following it`,
      `tag refs/tags/release/1 moved: ${c1.slice(0, 7)} → ${c2b.slice(0, 7)}; following it`,
    ]);
    let s = c.status();
    expect(s.source).toMatchObject({ reason: 'SourceAvailable', canary: { commit: c2b }, fleet: { commit: c2b, tag: 'release/1' } });
    expect(node(s, 'gw-1').sync.target?.commit).toBe(c2b);

    // the repo goes away: the pass goes on with the refs it has, says SourceUnavailable, and comes back sooner
    renameSync(origin.bare, `${origin.bare}.gone`);
    const r = await c.runPass();
    expect(r.outcome).toBe('ok');
    s = c.status();
    expect(s.source).toMatchObject({ reason: 'SourceUnavailable', failures: 1, lastError: { reason: 'SourceUnavailable' } });
    expect(s.source.lastError!.message).toMatch(/^cannot fetch .*clawops-origin-/);
    expect(node(s, 'gw-1').sync.target?.commit).toBe(c2b);
    const passes: string[] = [];
    c.onPass((p) => passes.push(p.trigger));
    const loop = c.run();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (clock.sleeps.length > 0) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    // the loop's first pass failed to fetch again: the second failure in a row waits 60 s (30 s doubling), not the 10 min interval
    expect(c.status().source.failures).toBe(2);
    expect(clock.sleeps[0]).toBe(60_000);
    renameSync(`${origin.bare}.gone`, origin.bare);
    c.stop();
    await loop;
    await c.runPass();
    expect(c.status().source).toMatchObject({ reason: 'SourceAvailable', failures: 0 });
  }, 120_000);

  it('a repo that cannot be cloned at all: the pass fails with SourceUnavailable, nothing is touched, the controller keeps running', async () => {
    const { c } = newController({ repo: 'ssh://git@127.0.0.1:1/nowhere.git', stateDir: mkdtempSync(join(tmpdir(), 'clawops-ctl-src-')) });
    await c.start();
    controllers.push(c);
    const r = await c.runPass();
    expect(r.outcome).toBe('SourceUnavailable');
    expect(c.status()).toMatchObject({ lastPass: { outcome: 'SourceUnavailable', message: expect.stringMatching(/^cannot clone ssh:\/\/git.*127\.0\.0\.1:1\/nowhere\.git: /) }, source: { reason: 'SourceUnavailable', failures: 1 }, nodes: {} });
  }, 60_000);
});
