/** The pure parts of the notifier: NDJSON line schema, dedup keys, windows, the key cap, ordering, persistence. */
import { describe, expect, it } from 'vitest';
import { compareRows, FailureDigest, statusFamily, type FailureEvent } from '../../reconciler/notifier/digest.js';
import { endpointOrigin, parseFailureLine } from '../../reconciler/notifier/failure-line.js';
import { failureLine } from './helpers.js';

// aligned to a 30 s slot boundary, so "expires after exactly window_sec" is exact
const T0 = Date.parse('2026-11-25T12:00:00.000Z');

function ev(over: Partial<FailureEvent> = {}): FailureEvent {
  return { tenant: 'acme', origin: 'https://canary.example.com', status: 503, timeMs: T0, ...over };
}

describe('NDJSON failure lines', () => {
  it('accepts a schema-valid line and reduces the endpoint to its origin', () => {
    const p = parseFailureLine(failureLine({ endpoint: 'https://Canary.Example.com:443/hooks/agent?sig=abc', status: 'timeout' }));
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.origin).toBe('https://canary.example.com');
    expect(p.failure.status).toBe('timeout');
    expect(p.timeMs).toBe(Date.parse('2026-11-25T12:00:00.000Z'));
  });

  it.each([
    ['not JSON', '{"tenant":'],
    ['a JSON array', '[1,2]'],
    ['missing delivery_id', JSON.stringify({ tenant: 'acme', endpoint: 'https://h', status: 500, time: '2026-11-25T12:00:00Z' })],
    ['an unknown key', JSON.stringify({ ...JSON.parse(failureLine()), extra: 1 })],
    ['status out of range', failureLine({ status: 600 })],
    ['status word not in the enum', JSON.stringify({ ...JSON.parse(failureLine()), status: 'refused' })],
    ['status as a numeric string', JSON.stringify({ ...JSON.parse(failureLine()), status: '503' })],
    ['a tenant id OpenClaw would refuse', failureLine({ tenant: 'Acme_Corp' })],
    ['a non-http endpoint', failureLine({ endpoint: 'ftp://h/x' })],
    ['an http endpoint without a host', failureLine({ endpoint: 'http://' })],
    ['a time that is not ISO 8601', failureLine({ time: 'yesterday' })],
    ['an empty delivery id', failureLine({ delivery_id: '' })],
  ])('rejects %s without throwing', (_what, line) => {
    const p = parseFailureLine(line);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.error).toMatch(/\S/);
  });

  it('never quotes values from a bad line in the error (it may carry a token)', () => {
    const secret = 'SK_LIVE_0123456789abcdef';
    const bad = [
      failureLine({ endpoint: `ftp://user:${secret}@h/x` }),
      failureLine({ tenant: secret }),
      failureLine({ time: secret }),
      `{"tenant":"${secret}`,
      JSON.stringify({ ...JSON.parse(failureLine()), status: secret }),
    ];
    for (const line of bad) {
      const p = parseFailureLine(line);
      expect(p.ok).toBe(false);
      if (!p.ok) expect(p.error).not.toContain(secret);
    }
  });

  it('origins: default port folded, path/query/userinfo dropped, case folded', () => {
    expect(endpointOrigin('https://user:pw@Hooks.Example.com:443/a/b?token=x#f')).toBe('https://hooks.example.com');
    expect(endpointOrigin('http://h.example:8080/x')).toBe('http://h.example:8080');
    expect(endpointOrigin('https://h.example:8443/x')).toBe('https://h.example:8443');
    expect(endpointOrigin('mailto:a@b')).toBeUndefined();
    expect(endpointOrigin('not a url')).toBeUndefined();
  });
});

describe('dedup by tenant + endpoint origin + status family', () => {
  it('maps statuses onto families', () => {
    expect([500, 502, 599].map(statusFamily)).toEqual(['5xx', '5xx', '5xx']);
    expect([400, 404, 429].map(statusFamily)).toEqual(['4xx', '4xx', '4xx']);
    expect(statusFamily('timeout')).toBe('timeout');
    expect(statusFamily('network')).toBe('network');
    expect([100, 200, 302].map(statusFamily)).toEqual(['other', 'other', 'other']);
  });

  it('one key per (tenant, origin, family); exact statuses and gateway times are kept per row', () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 100 });
    d.add(ev({ status: 502, timeMs: T0 - 5000 }), T0);
    d.add(ev({ status: 503, timeMs: T0 + 1000 }), T0 + 1000);
    d.add(ev({ status: 503, timeMs: T0 + 2000 }), T0 + 2000);
    d.add(ev({ status: 404 }), T0); // another family
    d.add(ev({ tenant: 'globex' }), T0); // another tenant
    d.add(ev({ origin: 'https://other.example.com' }), T0); // another origin
    const s = d.snapshot(T0 + 3000);
    expect(s.keys).toBe(4);
    expect(s.total).toBe(6);
    const row = s.top.find((r) => r.tenant === 'acme' && r.endpoint === 'https://canary.example.com' && r.family === '5xx')!;
    expect(row).toEqual({
      tenant: 'acme',
      endpoint: 'https://canary.example.com',
      family: '5xx',
      count: 3,
      statuses: { '502': 1, '503': 2 },
      first_seen: new Date(T0 - 5000).toISOString(),
      last_seen: new Date(T0 + 2000).toISOString(),
    });
  });

  it('orders worst first: 5xx > timeout > network > 4xx > other, then count, then recency', () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 100 });
    const add = (origin: string, status: FailureEvent['status'], n: number, timeMs = T0): void => {
      for (let i = 0; i < n; i++) d.add(ev({ origin, status, timeMs }), T0);
    };
    add('https://a.example', 404, 50);
    add('https://b.example', 'network', 5);
    add('https://c.example', 500, 1);
    add('https://d.example', 'timeout', 2);
    add('https://e.example', 302, 99);
    add('https://f.example', 500, 3);
    add('https://g.example', 500, 3, T0 + 10);
    const top = d.snapshot(T0).top.map((r) => `${r.endpoint.slice(8, 9)}:${r.family}:${r.count}`);
    expect(top).toEqual(['g:5xx:3', 'f:5xx:3', 'c:5xx:1', 'd:timeout:2', 'b:network:5', 'a:4xx:50', 'e:other:99']);
    const rows = d.snapshot(T0).top;
    expect([...rows].sort(compareRows)).toEqual(rows);
  });
});

describe('windows (by arrival time on the notifier clock)', () => {
  it('an event counts for the whole window and is gone after it', () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 100 });
    d.add(ev(), T0);
    d.addDropped(T0);
    expect(d.snapshot(T0 + 299_999)).toMatchObject({ total: 1, dropped: 1, keys: 1 });
    expect(d.snapshot(T0 + 300_000)).toMatchObject({ total: 0, dropped: 0, keys: 0, top: [] });
    expect(d.size(T0 + 300_000)).toBe(0);
  });

  it('rows roll: old slots fall out while new ones keep the row alive', () => {
    const d = new FailureDigest({ windowSec: 60, maxKeys: 100 });
    for (let i = 0; i < 10; i++) d.add(ev(), T0 + i * 10_000); // one every 10 s for 100 s
    // at T0+100 s the window covers slots from T0+42 s (6 s steps): events at 50, 60, 70, 80, 90 s
    expect(d.snapshot(T0 + 100_000).top[0]!.count).toBe(5);
    expect(d.snapshot(T0 + 200_000).keys).toBe(0);
  });

  it("ignores the gateway's clock for expiry: a replayed old event still counts now", () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 100 });
    d.add(ev({ timeMs: T0 - 86_400_000 }), T0);
    const s = d.snapshot(T0 + 1000);
    expect(s.total).toBe(1);
    expect(s.top[0]!.first_seen).toBe(new Date(T0 - 86_400_000).toISOString());
  });
});

describe('memory cap on distinct keys', () => {
  it('stores at most maxKeys keys, counts the rest as overflow, existing keys keep counting', () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 3 });
    for (let i = 0; i < 10; i++) expect(d.add(ev({ origin: `https://h${i}.example` }), T0)).toBe(i < 3 ? 'counted' : 'overflow');
    for (let i = 0; i < 5; i++) expect(d.add(ev({ origin: 'https://h0.example' }), T0)).toBe('counted');
    const s = d.snapshot(T0);
    expect(s).toMatchObject({ keys: 3, overflow: 7, total: 15 });
    expect(s.top[0]).toMatchObject({ endpoint: 'https://h0.example', count: 6 });
    // once the window passes, keys free up and overflow is forgotten
    const later = T0 + 300_000;
    expect(d.add(ev({ origin: 'https://new.example' }), later)).toBe('counted');
    expect(d.snapshot(later)).toMatchObject({ keys: 1, overflow: 0, total: 1 });
  });
});

describe('persisted form', () => {
  it('round-trips through JSON, and restores into another window size', () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 100 });
    for (let i = 0; i < 500; i++) d.add(ev({ status: i % 2 ? 502 : 503, timeMs: T0 + i }), T0 + i * 100);
    d.add(ev({ origin: 'https://x.example', status: 'timeout' }), T0);
    d.addDropped(T0, 7);
    const json = JSON.parse(JSON.stringify(d.toJSON())) as unknown;
    const now = T0 + 60_000;
    const back = FailureDigest.restore(json, { windowSec: 300, maxKeys: 100 }, now);
    expect(back.snapshot(now)).toEqual(d.snapshot(now));
    // a shorter window drops what it no longer covers
    const shorter = FailureDigest.restore(json, { windowSec: 30, maxKeys: 100 }, now);
    expect(shorter.snapshot(now).total).toBe(0);
    // a tighter cap keeps the first keys only
    expect(FailureDigest.restore(json, { windowSec: 300, maxKeys: 1 }, now).snapshot(now).keys).toBe(1);
  });

  it('refuses anything that is not a persisted digest', () => {
    for (const bad of [null, {}, { format: 'clawops-webhook-digest/v1', entries: [{ tenant: 'a' }], dropped: [], overflow: [] }, { format: 'x', entries: [], dropped: [], overflow: [] }]) {
      expect(() => FailureDigest.restore(bad, { windowSec: 300, maxKeys: 10 }, T0)).toThrow(TypeError);
    }
  });
});
