/**
 * Schema checks for repo files and node-side documents. The validators are compiled ahead of time
 * (schema-validators.ts, generated from schemas/*.schema.json by gen-schema-validators.ts): no schema is compiled at
 * run time, and ajv's compiler is not even loaded. Every ajv error becomes a positioned finding or a message.
 */
import type { ErrorObject } from 'ajv/dist/2020.js';
import * as generated from './schema-validators.js';
import type { Finding } from './types.js';
import type { SourceDoc } from './yaml-doc.js';

export type SchemaName =
  | 'clawops'
  | 'nodes'
  | 'lock'
  | 'gateway-fragment'
  | 'doctor-fragment'
  | 'webhook-fragment'
  | 'webhook-failure'
  | 'controller-status';

/** An ajv validate function as the standalone code exports it: errors of the last call on `.errors`. */
export interface ValidateFunction {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

const VALIDATORS: Record<SchemaName, ValidateFunction> = {
  clawops: generated.clawops,
  nodes: generated.nodes,
  lock: generated.lock,
  'gateway-fragment': generated.gatewayFragment,
  'doctor-fragment': generated.doctorFragment,
  'webhook-fragment': generated.webhookFragment,
  'webhook-failure': generated.webhookFailure,
  'controller-status': generated.controllerStatus,
};

export function validator(name: SchemaName): ValidateFunction {
  return VALIDATORS[name];
}

/** Validate a parsed document; every ajv error becomes a positioned finding. */
export function validateDoc(name: SchemaName, doc: SourceDoc): Finding[] {
  const v = validator(name);
  if (v(doc.value)) return [];
  return dedupe(v.errors ?? [])
    .filter((e) => !isOneOfNoise(e, v.errors ?? []))
    .map((e) => toFinding(e, doc));
}

/** Validate a plain value (e.g. one NDJSON line); messages name the JSON path. */
export function validateValue(name: SchemaName, value: unknown): string[] {
  const v = validator(name);
  if (v(value)) return [];
  return dedupe(v.errors ?? []).map((e) => `${e.instancePath || '/'}: ${describe(e)}`);
}

function pathOf(e: ErrorObject): (string | number)[] {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return parts;
}

function toFinding(e: ErrorObject, doc: SourceDoc): Finding {
  const path = pathOf(e);
  const extra = e.keyword === 'additionalProperties' ? String((e.params as { additionalProperty: string }).additionalProperty) : undefined;
  const keyPath = extra !== undefined ? [...path, extra] : path;
  const pos = doc.locate(keyPath, { key: extra !== undefined || e.keyword === 'required' ? true : false });
  const where = keyPath.length > 0 ? keyPath.join('.') : '(document)';
  return {
    file: doc.file,
    line: pos.line,
    col: pos.col,
    severity: 'error',
    message: `${where}: ${describe(e)}`,
    rule: `schema/${e.keyword}`,
  };
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key "${String(p.additionalProperty)}"`;
    case 'required':
      return `missing required key "${String(p.missingProperty)}"`;
    case 'type':
      return `must be ${String(p.type)}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case 'pattern':
      return `does not match ${String(p.pattern)}`;
    case 'propertyNames':
      return `has an invalid key "${String(p.propertyName)}"`;
    default:
      return e.message ?? e.keyword;
  }
}

/** A failed oneOf reports every branch; keep the oneOf line and drop the branch noise under the same path. */
function isOneOfNoise(e: ErrorObject, all: ErrorObject[]): boolean {
  if (e.keyword === 'oneOf') return false;
  return all.some((o) => o.keyword === 'oneOf' && o.instancePath === e.instancePath && e.schemaPath.startsWith(o.schemaPath.replace(/\/oneOf$/, '/oneOf/')));
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
