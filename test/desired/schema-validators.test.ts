/**
 * The ahead-of-time schema validators (reconciler/desired/schema-validators.ts) are generated from schemas/ by
 * gen-schema-validators.ts and committed, so that neither dist/ nor tsx compiles a schema at run time. These tests fail
 * when a schema (or ajv) changed and the file was not regenerated, and check that the generated validators behave as
 * ajv compiling the schemas at run time did (same errors, same formats).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { exportName, generateValidators, OUTPUT, SCHEMA_DIR } from '../../reconciler/desired/gen-schema-validators.js';
import { formats } from '../../reconciler/desired/schema-formats.js';
import { validateValue, validator, type SchemaName } from '../../reconciler/desired/schema.js';
import * as generated from '../../reconciler/desired/schema-validators.js';
import { SECRET_NAME } from '../../reconciler/desired/build-desired.js';

const SCHEMA_FILES = readdirSync(SCHEMA_DIR)
  .filter((f) => f.endsWith('.schema.json'))
  .sort();

describe('generated schema validators', () => {
  it('are up to date with schemas/ (else: npx tsx reconciler/desired/gen-schema-validators.ts)', () => {
    const committed = readFileSync(OUTPUT, 'utf8');
    // a plain equality: a diff of 150 KB of generated code helps nobody, the command to run does
    expect(committed === generateValidators(), 'reconciler/desired/schema-validators.ts is stale: run npx tsx reconciler/desired/gen-schema-validators.ts').toBe(true);
  });

  it('the check sees a schema change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clawops-schemas-'));
    try {
      cpSync(SCHEMA_DIR, dir, { recursive: true });
      const f = join(dir, 'webhook-failure.schema.json');
      writeFileSync(f, readFileSync(f, 'utf8').replace('"maxLength": 200', '"maxLength": 201'));
      expect(generateValidators(dir)).not.toBe(readFileSync(OUTPUT, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('export one validator per schema file, and load none of ajv but its runtime helpers', () => {
    expect(Object.keys(generated).sort()).toEqual(SCHEMA_FILES.map((f) => exportName(f.slice(0, -'.schema.json'.length))).sort());
    const text = readFileSync(OUTPUT, 'utf8');
    expect([...text.matchAll(/\b(?:require\(|from )"([^"]+)"/g)].map((m) => m[1]!).filter((m) => m !== 'node:module' && !m.startsWith('./'))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ajv\/dist\/runtime\//)]),
    );
    expect(text).not.toMatch(/ajv\/dist\/(?!runtime\/)/);
  });

  // the same documents through ajv compiling the schema at run time (as schema.ts did before) and through the generated
  // validator: the same verdict and the same error objects, which the findings are made from
  const runtime = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: true });
  for (const [name, def] of Object.entries(formats)) runtime.addFormat(name, def);
  for (const f of SCHEMA_FILES) runtime.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as object, f);
  const cases: [SchemaName, unknown, boolean][] = [
    ['clawops', { apiVersion: 'clawops/v1', concurrency: 0, ssh: { connect_timeout_ms: 'x' }, nope: 1 }, false],
    ['nodes', { nodes: [{ name: 'gw-1', host: 'h', role: 'gateway', tenants: ['Bad Id'], port: 70000 }, { host: 1 }] }, false],
    ['gateway-fragment', { gateway: { port: 'x', auth: { token: 'literal', mode: 3 } }, hooks: { token: { secret_ref: 'Bad/Name' } } }, false],
    ['doctor-fragment', { doctor: { warn_on: 'loud' }, queue: { paths: ['/abs', 3] }, maintenance_windows: { w: { days: ['someday'] } } }, false],
    ['webhook-fragment', { endpoints: { crm: { url: 3, retry: { max_attempts: -1 }, extra: true } } }, false],
    ['webhook-failure', { tenant: 'acme', endpoint: 'https://x.example/', status: 500, time: '2026-02-30T25:00:00Z', delivery_id: '' }, false],
    ['webhook-failure', { tenant: 'acme', endpoint: 'https://x.example/', status: 'timeout', time: '2026-11-29T08:00:00.123+01:00', delivery_id: 'd-1' }, true],
    ['lock', { openclaw: 1 }, false],
  ];
  for (const [name, value, valid] of cases) {
    it(`${name}: the same ${valid ? 'verdict' : 'errors'} as ajv compiling the schema at run time`, () => {
      const v = validator(name);
      const r = runtime.getSchema(`${name}.schema.json`)!;
      expect(v(value)).toBe(valid);
      expect(r(value)).toBe(valid);
      expect(v.errors ?? null).toEqual(r.errors ?? null);
    });
  }

  it('date-time is checked, as before (webhook-failure lines)', () => {
    const line = { tenant: 'acme', endpoint: 'https://x.example/', status: 500, delivery_id: 'd-1' };
    expect(validateValue('webhook-failure', { ...line, time: '2026-11-29T08:00:00Z' })).toEqual([]);
    expect(validateValue('webhook-failure', { ...line, time: 'yesterday' })).toEqual(['/time: must match format "date-time"']);
  });
});

describe('a secret name is one rule', () => {
  it("build-desired's SECRET_NAME (every secret_ref of a merged config) is defs.schema.json's secretRef pattern", () => {
    const defs = JSON.parse(readFileSync(join(SCHEMA_DIR, 'defs.schema.json'), 'utf8')) as { $defs: { secretRef: { properties: { secret_ref: { pattern: string } } } } };
    expect(SECRET_NAME.source).toBe(defs.$defs.secretRef.properties.secret_ref.pattern);
  });
});
