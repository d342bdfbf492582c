/**
 * The scale benchmark's simulated nodes answer as real nodes do since nodes keep their last full answer: a full answer
 * first, then kept answers (observe-script.ts `KEPT=$(`): the live records first (now, answer kept, daemon, version,
 * disk), the kept part byte for byte the same pass after pass, the svc records last. The controller's reparse
 * (reconciler/observe/reparse.ts) reads them as parseObservation does.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import { Reparser, splitAnswer } from '../../reconciler/observe/reparse.js';
import { SimTransport, type ObserveTemplate, type SimDrift } from '../../bench/lib/sim-node.js';
import { captureTemplate } from '../../bench/lib/sim-template.js';
import { exampleDesired } from '../plan/fixtures.js';

let desired: DesiredState;
let tpl: ObserveTemplate;

beforeAll(async () => {
  desired = exampleDesired();
  tpl = await captureTemplate(desired, ['acme', 'globex', 'initech'], { commit: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00' });
});

const recs = (s: string): string[][] => (JSON.parse(s) as { records: string[][] }).records;

describe('simulated kept answers', () => {
  for (const drift of [[], ['hand-edited'], ['service-stopped', 'token-rotation'], ['not-deployed']] as SimDrift[][]) {
    it(`a full answer, then kept ones: live records first and last, the kept part the same bytes (${drift.join(',') || 'in sync'})`, async () => {
      let clock = 1_800_000_000;
      const t = new SimTransport('gw-1', tpl, drift, () => clock);
      const stdin = expectations(desired, ['acme', 'globex']);
      const ask = async (input = stdin): Promise<string> => (await t.exec("sh -c 'x' clawops-observe '/etc/openclaw'", { stdin: input })).stdout;
      const full = await ask();
      clock += 30;
      const k1 = await ask();
      clock += 30;
      const k2 = await ask();
      const fr = recs(full);
      expect(fr.find((r) => r[0] === 'answer')?.[1]).toBe('full');
      for (const [k, now] of [[k1, 1_800_000_030], [k2, 1_800_000_060]] as const) {
        const r = recs(k);
        expect(r.slice(0, 5).map((x) => x[0])).toEqual(['now', 'answer', 'daemon', 'version', 'disk']);
        expect(r[0]).toEqual(['now', String(now)]);
        expect(r[1]).toEqual(['answer', 'kept', '1800000000']);
        // the others of the full answer in its order, then its services
        const live = new Set(['now', 'answer', 'daemon', 'version', 'disk', 'svc', 'launchd-list']);
        expect(r.slice(5)).toEqual([...fr.filter((x) => !live.has(x[0]!)), ...fr.filter((x) => x[0] === 'svc')]);
        // the same observation as the full answer but for the clock
        expect({ ...parseObservation('gw-1', k, { commands: 1, durationMs: 0 }, stdin), now: 0 }).toStrictEqual({ ...parseObservation('gw-1', full, { commands: 1, durationMs: 0 }, stdin), now: 0 });
      }
      const s1 = splitAnswer(k1)!;
      const s2 = splitAnswer(k2)!;
      expect(k1.slice(s1.mid, s1.midEnd)).toBe(k2.slice(s2.mid, s2.midEnd));
      expect(s1.tail).toBe(s2.tail);
      const rp = new Reparser();
      for (const k of [k1, k2]) expect(rp.parse('gw-1', k, { commands: 1, durationMs: 0 }, stdin)).toStrictEqual(parseObservation('gw-1', k, { commands: 1, durationMs: 0 }, stdin));
      expect(rp.counts).toEqual({ full: 1, reused: 1 });
      // another stdin: a full answer again, then kept ones for it
      const other = expectations(desired, ['acme']);
      expect(recs(await ask(other)).find((r) => r[0] === 'answer')?.[1]).toBe('full');
      expect(recs(await ask(other)).find((r) => r[0] === 'answer')?.[1]).toBe('kept');
      // older than the kept answer may be: full
      clock += 301;
      expect(recs(await ask(other)).find((r) => r[0] === 'answer')?.[1]).toBe('full');
    });
  }
});
