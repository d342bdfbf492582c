/** The run's memo of release validations (issue 12): one full validation per build + tenant + release, no deadlock. */
import { describe, expect, it } from 'vitest';
import { judge } from '../../reconciler/apply/apply-node.js';
import { ValidationMemo, verdictKey, type Decision, type Pending } from '../../reconciler/apply/validation-memo.js';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { EXAMPLE } from '../helpers/repo.js';

const K1 = verdictKey('sha-a 2026.9.6', 'acme', '0123456789abcdef');
const K2 = verdictKey('sha-a 2026.9.6', 'globex', 'fedcba9876543210');
const kinds = (m: Map<string, Decision | Pending>): string[] => [...m.values()].map((d) => d.kind);
const claimOf = (m: Map<string, Decision | Pending>, k: string) => {
  const d = m.get(k)!;
  if (d.kind !== 'validate') throw new Error(`expected a claim, got ${d.kind}`);
  return d.claim;
};
const tick = (): Promise<void> => new Promise((ok) => setImmediate(ok));

describe('ValidationMemo', () => {
  it('the first node validates; a node needing the same release waits for that verdict and then only checks', async () => {
    const memo = new ValidationMemo();
    const a = await memo.decide('gw-1', [K1, K2]);
    expect(kinds(a)).toEqual(['validate', 'validate']);
    let b: Map<string, Decision> | undefined;
    const waiting = memo.decide('gw-2', [K1]).then((m) => (b = m));
    await tick();
    expect(b).toBeUndefined(); // gw-1 is still validating K1
    claimOf(a, K1).settle({ valid: true, node: 'gw-1' });
    await waiting;
    expect(b!.get(K1)).toMatchObject({ kind: 'check', verdict: { valid: true, node: 'gw-1' } });
    expect(memo.claims).toBe(2);
  });

  it('an invalid verdict refuses the release for every later node, naming the node that validated it', async () => {
    const memo = new ValidationMemo();
    const a = await memo.decide('gw-1', [K1]);
    claimOf(a, K1).settle({ valid: false, node: 'gw-1', why: 'openclaw config validate refused release 0123456789abcdef: logging.level: bad' });
    const b = await memo.decide('gw-2', [K1]);
    expect(b.get(K1)).toMatchObject({ kind: 'refuse', verdict: { node: 'gw-1', why: /logging\.level/ } });
    expect(memo.claims).toBe(1);
  });

  it('a claim given back without a verdict (the node\'s own secrets refused) is validated by the next node', async () => {
    const memo = new ValidationMemo();
    const a = await memo.decide('gw-1', [K1]);
    const b = memo.decide('gw-2', [K1]);
    claimOf(a, K1).giveBack();
    const m = await b;
    expect(kinds(m)).toEqual(['validate']);
    claimOf(m, K1).settle({ valid: true, node: 'gw-2' });
    expect(kinds(await memo.decide('gw-3', [K1]))).toEqual(['check']);
    // a settled claim cannot be given back or settled again
    claimOf(a, K1).settle({ valid: false, node: 'gw-1', why: 'late' });
    expect(kinds(await memo.decide('gw-4', [K1]))).toEqual(['check']);
  });

  it('a node waiting holds no claims, so two nodes needing the same two releases never wait on each other', async () => {
    const memo = new ValidationMemo();
    const a = await memo.decide('gw-1', [K1]);
    // gw-2 needs K1 (gw-1 validating) and K2 (nobody): it waits for K1 and claims K2 only after, all at once
    const b = memo.decide('gw-2', [K2, K1]);
    await tick();
    const c = await memo.decide('gw-1b', [K2]);
    expect(kinds(c)).toEqual(['validate']); // gw-2 did not sit on K2 while waiting
    claimOf(a, K1).settle({ valid: true, node: 'gw-1' });
    claimOf(c, K2).settle({ valid: true, node: 'gw-1b' });
    expect(kinds(await b)).toEqual(['check', 'check']);
  });

  it('decideNow never waits: a release another node is validating is pending with that verdict, unclaimed ones are claimed', async () => {
    const memo = new ValidationMemo();
    const a = memo.decideNow('gw-1', [K1]);
    expect(kinds(a)).toEqual(['validate']);
    const b = memo.decideNow('gw-2', [K1, K2]);
    // K1: gw-1's validation is running (gw-2 does its own part meanwhile); K2: nobody had it, gw-2 validates it
    expect(kinds(b)).toEqual(['pending', 'validate']);
    const pending = b.get(K1)!;
    if (pending.kind !== 'pending') throw new Error('expected pending');
    expect(pending.node).toBe('gw-1');
    let got: unknown = 'not yet';
    void pending.verdict.then((v) => (got = v));
    await tick();
    expect(got).toBe('not yet');
    claimOf(a, K1).settle({ valid: false, node: 'gw-1', why: 'bad' });
    await tick();
    expect(got).toEqual({ valid: false, node: 'gw-1', why: 'bad' });
    // later nodes reuse both verdicts at once; K2 given back is claimed again
    claimOf(b, K2).giveBack();
    expect(kinds(memo.decideNow('gw-3', [K1, K2]))).toEqual(['refuse', 'validate']);
    expect(memo.claims).toBe(3);
  });

  it('a pending verdict given back is undefined: the waiting node then claims it with decide (it holds no claim of its own)', async () => {
    const memo = new ValidationMemo();
    const a = memo.decideNow('gw-1', [K1]);
    const b = memo.decideNow('gw-2', [K1]);
    const p = b.get(K1)!;
    if (p.kind !== 'pending') throw new Error('expected pending');
    claimOf(a, K1).giveBack();
    expect(await p.verdict).toBeUndefined();
    expect(kinds(await memo.decide('gw-2', [K1]))).toEqual(['validate']);
  });

  it('another OpenClaw build never reuses a verdict', async () => {
    const memo = new ValidationMemo();
    const a = await memo.decide('gw-1', [K1]);
    claimOf(a, K1).settle({ valid: true, node: 'gw-1' });
    expect(kinds(await memo.decide('gw-2', [verdictKey('sha-b 2026.10.1', 'acme', '0123456789abcdef')]))).toEqual(['validate']);
  });

  it('an interrupted wait claims nothing', async () => {
    const memo = new ValidationMemo();
    await memo.decide('gw-1', [K1]);
    const ac = new AbortController();
    const b = memo.decide('gw-2', [K1], ac.signal);
    ac.abort();
    expect((await b).size).toBe(0);
    expect(memo.claims).toBe(1);
  });
});

describe('judge: what one full validation says about a release for the whole run', () => {
  const desired = buildDesired(readTreeSync(EXAMPLE));
  const ID = desired.tenants.get('acme')!.releaseId;
  it.each([
    ['valid', '{"valid":true,"issues":[],"warnings":[]}', 0, { valid: true, node: 'gw-1' }],
    ['an issue', '{"valid":false,"issues":[{"path":"logging.level","message":"Invalid option"}]}', 1, { valid: false, node: 'gw-1', why: `openclaw config validate refused release ${ID}: logging.level: Invalid option` }],
    ['an env var the wrapper did not set (the release names one outside secrets.list)', '{"valid":true,"issues":[],"warnings":[{"path":"hooks.token","message":"Missing env var \\"FOO\\""}]}', 0, { valid: false, node: 'gw-1', why: `release ${ID} would start with hooks.token unset (Missing env var "FOO")` }],
    ['no JSON (openclaw crashed on that node): no verdict, the next node validates', 'Segmentation fault', 139, undefined],
  ] as const)('%s', (_, out, rc, want) => {
    expect(judge('gw-1', desired, 'acme', ID, out, rc)).toEqual(want);
  });
});
