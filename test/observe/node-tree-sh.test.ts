/**
 * node-tree-sh.ts: tenant_refusal_t gives the same verdict and message whichever way the links were read (observe's,
 * all tenants in one readlink with tabs and newlines as '?'; tenant_links', both links of one tenant in one readlink,
 * which tenant_refusal and link_id use) on the same trees, including the hostile ones (links out of the tree, targets
 * with newlines and tabs, entries that are files where links belong, linked release dirs), and that verdict is the
 * expected message.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NODE_TREE_SH } from '../../reconciler/node-tree-sh.js';

const ID = 'c0ffee01';
let etc: string;
beforeEach(() => {
  etc = mkdtempSync(join(tmpdir(), 'clawops-nodetree-'));
  mkdirSync(join(etc, 'tenants'));
  mkdirSync(join(etc, 'releases', 'acme', ID), { recursive: true });
});
afterEach(() => rmSync(etc, { recursive: true, force: true }));

/**
 * The verdicts for tenant `t`: [tenant_refusal, tenant_refusal_t (the links read as observe reads them),
 * tenant_refusal_t (the links read by tenant_links, as apply reads them)], and the release ids: [link_id of current
 * and .prev, tenant_links' lk_cur_id and lk_prev_id].
 */
function verdicts(t: string): [string, string, string, string, string] {
  const script = `${NODE_TREE_SH}
ETC=$1; t=$2; L="$ETC/tenants"
old=$(tenant_refusal "$t")
c=n; p=n
[ -L "$L/$t" ] && c=l$(printf '%s' "$(readlink "$L/$t")" | tr '\\t\\n' '??')
[ -L "$L/$t.prev" ] && p=l$(printf '%s' "$(readlink "$L/$t.prev")" | tr '\\t\\n' '??')
tenant_refusal_t "$t" "$c" "$p"
fast=$why
tenant_links "$t"
tenant_refusal_t "$t" "$lk_cur" "$lk_prev"
printf '%s\\n%s\\n%s\\n%s %s\\n%s %s' "$old" "$fast" "$why" "$(link_id "$t" '')" "$(link_id "$t" .prev)" "$lk_cur_id" "$lk_prev_id"`;
  const out = execFileSync('sh', ['-c', script, 'node-tree', etc, t], { encoding: 'utf8' });
  const [a = '', b = '', c = '', d = '', e = ''] = out.split('\n');
  return [a, b, c, d, e];
}

const link = (target: string, name = 'acme'): void => symlinkSync(target, join(etc, 'tenants', name));

describe('tenant_refusal_t (links read by observe, or by tenant_links in one readlink) agrees with tenant_refusal', () => {
  const cases: [string, () => void, RegExp | ''][] = [
    ['clawops own current and prev', () => (link(`../releases/acme/${ID}`), link(`../releases/acme/${ID}`, 'acme.prev')), ''],
    ['no links at all', () => undefined, ''],
    ['a link to a release not there yet', () => link('../releases/acme/abcdef'), ''],
    ['a link out of the tree', () => link('/etc'), /points at \/etc, outside releases\/acme\//],
    ['a link named "-"', () => link('-'), /points at -, outside/],
    ['a target with a newline', () => link(`../releases/acme/ab\ncd`), /points at \.\.\/releases\/acme\/ab\?cd, which is not a release/],
    ['a target with a tab', () => link(`../releases/acme/ab\tcd`), /ab\?cd, which is not a release/],
    ['a prev link out of the tree', () => link('../../x', 'acme.prev'), /acme\.prev points at/],
    ['both links, current with a newline (read one at a time)', () => (link(`../releases/acme/ab\ncd`), link(`../releases/acme/${ID}`, 'acme.prev')), /acme points at \.\.\/releases\/acme\/ab\?cd, which is not a release/],
    ['both links, prev with a newline (read one at a time)', () => (link(`../releases/acme/${ID}`), link(`../releases/acme/x\ny`, 'acme.prev')), /acme\.prev points at \.\.\/releases\/acme\/x\?y, which is not a release/],
    // whatever link_id makes of it (command substitution drops a target's trailing newlines): the same, read both ways
    ['both links, prev ending in a newline', () => (link(`../releases/acme/${ID}`), link(`../releases/acme/${ID}\n`, 'acme.prev')), /(?:)/],
    ['both links to different releases', () => (link('../releases/acme/abc'), link(`../releases/acme/${ID}`, 'acme.prev')), ''],
    ['tenants/<t> a file', () => writeFileSync(join(etc, 'tenants', 'acme'), 'x'), /exists but is not a symlink/],
    ['tenants/<t>.prev a directory', () => mkdirSync(join(etc, 'tenants', 'acme.prev')), /acme\.prev exists but is not a symlink/],
    ['the release a symlink', () => (symlinkSync('/tmp', join(etc, 'releases', 'acme', 'abc123')), link('../releases/acme/abc123')), /abc123 is a symlink, not a release/],
    ['the release a file', () => (writeFileSync(join(etc, 'releases', 'acme', 'abc124'), ''), link('../releases/acme/abc124')), /abc124 is not a directory/],
    ['releases/<t> a symlink', () => (rmSync(join(etc, 'releases', 'acme'), { recursive: true }), symlinkSync('/tmp', join(etc, 'releases', 'acme'))), /releases\/acme is a symlink \(\/tmp\)/],
  ];
  for (const [name, setup, want] of cases) {
    it(name, () => {
      setup();
      const [old, fast, links, ids, linkIds] = verdicts('acme');
      expect(fast).toBe(old);
      expect(links).toBe(old);
      expect(linkIds).toBe(ids);
      if (want === '') expect(old).toBe('');
      else expect(old).toMatch(want);
    });
  }
});
