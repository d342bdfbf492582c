/**
 * A small strict parser of the Prometheus text exposition format (0.0.4), for tests: it refuses what a Prometheus
 * server would refuse (bad names, bad escapes, unparsable values, samples of an undeclared or wrongly typed family,
 * duplicate series, HELP/TYPE twice, histogram buckets out of order or disagreeing with _count).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(n: number, line: string, why: string): never {
  throw new Error(`metrics line ${n}: ${why}: ${JSON.stringify(line)}`);
}

function parseValue(s: string, n: number, line: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) fail(n, line, `bad value ${s}`);
  return Number(s);
}

function parseLabels(s: string, n: number, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 0;
  if (s[i] !== '{') return { labels, rest: s };
  i++;
  while (true) {
    if (s[i] === '}') {
      i++;
      break;
    }
    const eq = s.indexOf('=', i);
    if (eq < 0) fail(n, line, 'label without =');
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) fail(n, line, `bad label name ${name}`);
    if (Object.hasOwn(labels, name)) fail(n, line, `label ${name} twice`);
    if (s[eq + 1] !== '"') fail(n, line, 'label value not quoted');
    let j = eq + 2;
    let v = '';
    while (true) {
      const c = s[j];
      if (c === undefined) fail(n, line, 'unterminated label value');
      if (c === '"') break;
      if (c === '\n') fail(n, line, 'raw newline in label value');
      if (c === '\\') {
        const e = s[j + 1];
        if (e === 'n') v += '\n';
        else if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else fail(n, line, `bad escape \\${e ?? ''}`);
        j += 2;
        continue;
      }
      v += c;
      j++;
    }
    labels[name] = v;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') fail(n, line, 'expected , or }');
  }
  return { labels, rest: s.slice(i) };
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const helped = new Set<string>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('metrics text does not end with a newline');
  text.split('\n').forEach((line, idx) => {
    const n = idx + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC.test(name)) fail(n, line, `bad metric name ${name}`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) fail(n, line, `bad type ${rest}`);
        const f = families.get(name);
        if (f && f.samples.length > 0) fail(n, line, 'TYPE after samples');
        if (f && f.type !== 'untyped') fail(n, line, 'TYPE twice');
        families.set(name, { ...(f ?? { name, samples: [] }), type: rest as Family['type'] });
      } else {
        if (helped.has(name)) fail(n, line, 'HELP twice');
        helped.add(name);
        const f = families.get(name) ?? { name, type: 'untyped' as const, samples: [] };
        families.set(name, { ...f, help: rest });
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) fail(n, line, 'no metric name');
    const name = nm[0];
    const { labels, rest } = parseLabels(line.slice(name.length), n, line);
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) fail(n, line, 'expected " value [timestamp]"');
    const value = parseValue(parts[0]!, n, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(n, line, 'bad timestamp');
    const f = familyOf(name, families);
    if (!f) fail(n, line, `sample of an undeclared family ${name}`);
    if ((f.type === 'counter' || name.endsWith('_count') || name.endsWith('_bucket')) && !(value >= 0)) fail(n, line, 'negative counter');
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) fail(n, line, 'duplicate series');
    seen.add(key);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, { le: number; v: number }[]>();
    const counts = new Map<string, number>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      if (s.name === `${f.name}_bucket`) {
        if (le === undefined) throw new Error(`${f.name}: bucket without le`);
        series.set(k, [...(series.get(k) ?? []), { le: le === '+Inf' ? Infinity : Number(le), v: s.value }]);
      } else if (s.name === `${f.name}_count`) counts.set(k, s.value);
    }
    for (const [k, buckets] of series) {
      const sorted = [...buckets].sort((a, b) => a.le - b.le);
      for (let i = 1; i < sorted.length; i++) if (sorted[i]!.v < sorted[i - 1]!.v) throw new Error(`${f.name}: buckets not cumulative`);
      const inf = sorted[sorted.length - 1];
      if (!inf || inf.le !== Infinity) throw new Error(`${f.name}: no +Inf bucket`);
      if (counts.get(k) !== inf.v) throw new Error(`${f.name}: +Inf bucket ${inf.v} != _count ${counts.get(k)}`);
    }
  }
  return families;
}

/** The value of one series (undefined: no such series). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}
