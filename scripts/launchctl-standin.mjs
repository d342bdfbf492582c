#!/usr/bin/env node
// launchctl stand-in for clawops' test fleet and local demo fleets (installed as /usr/local/bin/launchctl-standin on
// every node, the fleet rewriting the shebang to an absolute Node path, behind scripts/launchctl.sh as
// /usr/local/bin/launchctl: that sh front end answers the read-only `print` itself from the answers the supervisors
// below keep, as fast as a native launchctl, and hands everything else to this script). launchd does not exist on
// Linux, so this accepts the real macOS launchctl syntax for the subset clawops uses and supervises the plist's
// ProgramArguments itself:
//
//   launchctl print system/<label>           print-disabled system         print system
//   launchctl bootstrap system <plist>...    bootout system/<label>        bootout system <plist>...
//   launchctl kickstart [-k] [-p] system/<label>
//   launchctl enable system/<label>          disable system/<label>        help [subcommand]
//
// Messages and exit codes follow real launchctl: `Could not find service "x" in domain for system`
// (113), `Bootstrap failed: 5: Input/output error`, `Boot-out failed: 3: No such process`,
// `Unrecognized subcommand: x` (1), usage errors (64). The `print` layout is the one macOS 11+ prints
// for a system LaunchDaemon (tab-indented `system/<label> = {` block).
//
// State (runtime, like launchd's; the fleet clears it when a node starts, as a reboot would):
//   /var/run/launchd-standin/services/<label>/job.json     the plist as loaded (later edits of the
//                                                          plist file do not apply until re-bootstrap)
//   /var/run/launchd-standin/services/<label>/status.json  written by the supervisor: pid, state, runs…
//   /var/run/launchd-standin/services/<label>/answer       written by the supervisor just before each status.json: its
//                                                          pid, the service's row of `print system`, the status.json
//                                                          and job.json lines it is rendered from, and the whole
//                                                          `print system/<label>` for that status (launchctl.sh reads it)
//   /var/run/launchd-standin/disabled.json                 enable/disable overrides
// Each loaded service has one supervisor process (this script with LAUNCHD_STANDIN_SUPERVISE=<label>)
// that spawns the job in its own process group, restarts it per KeepAlive (throttled by
// ThrottleInterval, default 10 s like launchd) and takes signals from the CLI: USR1 = kickstart -k,
// USR2 = kickstart, TERM = bootout.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// State lives beside the node this stand-in serves: installed as <root>/usr/local/bin/launchctl it keeps its state in
// <root>/var/run/launchd-standin (root is / on a fleet node, the node's directory on a local fleet).
const STATE_ROOT = process.env.LAUNCHD_STANDIN_ROOT || path.resolve(path.dirname(process.argv[1] ?? '/usr/local/bin/launchctl'), '../../../var/run/launchd-standin');
const SERVICES = path.join(STATE_ROOT, 'services');
// A local node (a directory standing for a Mac's /, as in `make demo`): the stand-in lives at
// <root>/usr/local/bin/launchctl and runs jobs with the Mac paths of their plist mapped under <root>, so the same
// rendered units work on a fleet node (root /) and on a local one.
const NODE_ROOT = path.resolve(STATE_ROOT, '../../..');
const NODE_PREFIXES = ['/etc/openclaw', '/var/db/openclaw', '/Library/', '/usr/local/', '/var/log/'];
/** @param {string} p */
const onNode = (p) => (NODE_ROOT !== '/' && typeof p === 'string' && NODE_PREFIXES.some((x) => p === x || p.startsWith(x.endsWith('/') ? x : `${x}/`)) ? path.join(NODE_ROOT, p) : p);
const DISABLED = path.join(STATE_ROOT, 'disabled.json');
const DEFAULT_PATH = '/usr/bin:/bin:/usr/sbin:/sbin';
const DEFAULT_THROTTLE_S = 10;
const DEFAULT_EXIT_TIMEOUT_S = 5;

// errno-style codes launchctl exits with
const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EIO = 5;
const ENODOMAIN = 112;
const ENOSERVICE = 113;
const EX_USAGE = 64;
const EX_CONFIG = 78;
const E2BIMPL = 116;

const USAGES = {
  bootstrap: '<domain-target> [service-path, service-path2, ...]',
  bootout: '<domain-target> [service-path1, service-path2, ...] | <service-target>',
  enable: '<service-target>',
  disable: '<service-target>',
  kickstart: '[-kp] <service-target>',
  print: '<domain-target> | <service-target>',
  'print-disabled': '<domain-target>',
  help: '<subcommand>',
};
const DESCRIPTIONS = {
  bootstrap: 'Bootstraps a domain or a service into a domain.',
  bootout: 'Tears down a domain or removes a service from a domain.',
  enable: 'Enables an existing service.',
  disable: 'Disables an existing service.',
  kickstart: 'Forces an existing service to start.',
  print: 'Prints a description of a domain or service.',
  'print-disabled': 'Prints which services are disabled.',
  help: 'Prints the usage for a given subcommand.',
};
// Real subcommands this stand-in does not emulate: recognised, but refused loudly.
const NOT_EMULATED = new Set([
  'list', 'load', 'unload', 'start', 'stop', 'kill', 'blame', 'attach', 'debug', 'remove', 'submit',
  'setenv', 'unsetenv', 'getenv', 'limit', 'procinfo', 'hostinfo', 'resolveport', 'examine',
  'config', 'dumpstate', 'dumpjpcategory', 'reboot', 'bootshell', 'error', 'variant', 'version',
  'print-cache', 'runstats', 'managerpid', 'manageruid', 'managername', 'asuser', 'bsexec',
  'uncache', 'userswitch', 'plist',
]);

class Exit extends Error {
  /** @param {number} code @param {string} [stderr] @param {string} [stdout] */
  constructor(code, stderr = '', stdout = '') {
    super(stderr);
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

// ---------------------------------------------------------------------------------------------
// XML property list parsing (the subset launchd plists use)

/** @param {string} s */
function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_m, e) => {
    if (e === 'amp') return '&';
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    return String.fromCodePoint(parseInt(e.slice(1), 10));
  });
}

/** @param {string} xml @returns {unknown} */
function parsePlist(xml) {
  const body = xml
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(/<!DOCTYPE[^>]*>/gi, '');
  /** @type {{kind: 'open'|'close'|'empty'|'text', name?: string, text?: string}[]} */
  const tokens = [];
  const re = /<(\/?)([A-Za-z][\w.-]*)(?:\s[^>]*?)?(\/?)>|([^<]+)/g;
  let m;
  while ((m = re.exec(body)) !== null) {
    if (m[4] !== undefined) {
      tokens.push({ kind: 'text', text: m[4] });
    } else if (m[1] === '/') {
      tokens.push({ kind: 'close', name: m[2] });
    } else {
      tokens.push({ kind: m[3] === '/' ? 'empty' : 'open', name: m[2] });
    }
  }
  let i = 0;
  const skipSpace = () => {
    while (i < tokens.length && tokens[i].kind === 'text' && tokens[i].text.trim() === '') i++;
  };
  const expectClose = (name) => {
    skipSpace();
    const t = tokens[i];
    if (!t || t.kind !== 'close' || t.name !== name) throw new Error(`plist: expected </${name}>`);
    i++;
  };
  const readText = (name) => {
    let text = '';
    while (i < tokens.length && tokens[i].kind === 'text') text += tokens[i++].text;
    const t = tokens[i];
    if (!t || t.kind !== 'close' || t.name !== name) throw new Error(`plist: expected </${name}>`);
    i++;
    return decodeEntities(text);
  };
  /** @returns {unknown} */
  const value = () => {
    skipSpace();
    const t = tokens[i++];
    if (!t || (t.kind !== 'open' && t.kind !== 'empty')) throw new Error('plist: expected a value');
    const empty = t.kind === 'empty';
    switch (t.name) {
      case 'true':
        if (!empty) expectClose('true');
        return true;
      case 'false':
        if (!empty) expectClose('false');
        return false;
      case 'string':
      case 'date':
      case 'data':
        return empty ? '' : readText(t.name);
      case 'integer': {
        const n = Number.parseInt(empty ? '0' : readText('integer').trim(), 10);
        if (Number.isNaN(n)) throw new Error('plist: bad <integer>');
        return n;
      }
      case 'real': {
        const n = Number.parseFloat(empty ? '0' : readText('real').trim());
        if (Number.isNaN(n)) throw new Error('plist: bad <real>');
        return n;
      }
      case 'array': {
        const out = [];
        if (empty) return out;
        for (;;) {
          skipSpace();
          const n = tokens[i];
          if (!n) throw new Error('plist: unterminated <array>');
          if (n.kind === 'close' && n.name === 'array') {
            i++;
            return out;
          }
          out.push(value());
        }
      }
      case 'dict': {
        /** @type {Record<string, unknown>} */
        const out = {};
        if (empty) return out;
        for (;;) {
          skipSpace();
          const n = tokens[i++];
          if (!n) throw new Error('plist: unterminated <dict>');
          if (n.kind === 'close' && n.name === 'dict') return out;
          if (n.name !== 'key') throw new Error('plist: expected <key> in <dict>');
          const key = n.kind === 'empty' ? '' : readText('key');
          out[key] = value();
        }
      }
      default:
        throw new Error(`plist: unexpected <${t.name}>`);
    }
  };
  skipSpace();
  const first = tokens[i];
  if (first && first.kind === 'open' && first.name === 'plist') {
    i++;
    const v = value();
    expectClose('plist');
    return v;
  }
  return value();
}

/**
 * @typedef {{
 *   label: string, plistPath: string, program: string, programInferred: boolean, arguments: string[],
 *   environment: Record<string, string>, workingDirectory?: string, stdoutPath?: string,
 *   stderrPath?: string, keepAlive: boolean | Record<string, unknown>, runAtLoad: boolean,
 *   throttleInterval: number, exitTimeout: number, userName?: string, groupName?: string,
 *   loadedAt: string
 * }} Job
 */

/** @param {string} plistPath @returns {Job} */
function loadJob(plistPath) {
  const raw = parsePlist(fs.readFileSync(plistPath, 'utf8'));
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('plist root is not a dict');
  /** @type {Record<string, unknown>} */
  const d = /** @type {Record<string, unknown>} */ (raw);
  const label = d.Label;
  if (typeof label !== 'string' || label === '' || label.includes('/')) throw new Error('bad Label');
  const args = Array.isArray(d.ProgramArguments) ? d.ProgramArguments.map(String) : [];
  const program = typeof d.Program === 'string' ? d.Program : args[0];
  if (!program) throw new Error('no Program or ProgramArguments');
  /** @type {Record<string, string>} */
  const environment = {};
  if (d.EnvironmentVariables && typeof d.EnvironmentVariables === 'object') {
    for (const [k, v] of Object.entries(d.EnvironmentVariables)) environment[k] = String(v);
  }
  const str = (k) => (typeof d[k] === 'string' ? /** @type {string} */ (d[k]) : undefined);
  const num = (k, dflt) => (typeof d[k] === 'number' && d[k] >= 0 ? /** @type {number} */ (d[k]) : dflt);
  const ka = d.KeepAlive;
  return {
    label,
    plistPath,
    program,
    programInferred: typeof d.Program !== 'string',
    arguments: args.length > 0 ? args : [program],
    environment,
    workingDirectory: str('WorkingDirectory'),
    stdoutPath: str('StandardOutPath'),
    stderrPath: str('StandardErrorPath'),
    keepAlive: ka === true ? true : ka && typeof ka === 'object' && !Array.isArray(ka) ? /** @type {Record<string, unknown>} */ (ka) : false,
    runAtLoad: d.RunAtLoad === true,
    throttleInterval: num('ThrottleInterval', DEFAULT_THROTTLE_S),
    exitTimeout: num('ExitTimeOut', DEFAULT_EXIT_TIMEOUT_S),
    userName: str('UserName'),
    groupName: str('GroupName'),
    loadedAt: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// State helpers

/** @param {string} label */
const svcDir = (label) => path.join(SERVICES, label);

/** @param {string} file @returns {any} */
function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** @param {string} file @param {string} text */
function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** @param {string} file @param {unknown} data */
function writeJsonAtomic(file, data) {
  // one line: launchctl.sh compares status.json and job.json, byte for byte, with the lines the answer was made from
  writeAtomic(file, JSON.stringify(data) + '\n');
}

/** @param {number | undefined | null} pid */
function alive(pid) {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @returns {Record<string, boolean>} label → disabled */
function readDisabled() {
  const d = readJson(DISABLED);
  return d && typeof d === 'object' ? d : {};
}

/**
 * A loaded service: its job, and the supervisor's status (undefined while bootstrap is still
 * starting the supervisor). A service whose supervisor has died is cleaned up and reported unloaded.
 * @param {string} label
 */
function loaded(label) {
  if (label === '' || label === '.' || label === '..' || label.includes('/')) return undefined;
  const dir = svcDir(label);
  /** @type {Job | undefined} */
  const job = readJson(path.join(dir, 'job.json'));
  if (!job) return undefined;
  const status = readJson(path.join(dir, 'status.json'));
  if (status && !alive(status.supervisorPid)) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { job, status };
}

function loadedLabels() {
  let names = [];
  try {
    names = fs.readdirSync(SERVICES);
  } catch {
    return [];
  }
  return names.filter((n) => loaded(n) !== undefined).sort();
}

// ---------------------------------------------------------------------------------------------
// Output formatting

const SIGNAL_NAMES = {
  SIGHUP: 'Hangup', SIGINT: 'Interrupt', SIGQUIT: 'Quit', SIGILL: 'Illegal instruction',
  SIGTRAP: 'Trace/BPT trap', SIGABRT: 'Abort trap', SIGBUS: 'Bus error', SIGFPE: 'Floating point exception',
  SIGKILL: 'Killed', SIGUSR1: 'User defined signal 1', SIGSEGV: 'Segmentation fault',
  SIGUSR2: 'User defined signal 2', SIGPIPE: 'Broken pipe', SIGALRM: 'Alarm clock', SIGTERM: 'Terminated',
};

/** @param {{code?: number, signal?: string} | null | undefined} last */
function lastExitLine(last) {
  if (!last) return 'last exit code = (never exited)';
  if (last.signal) {
    const num = os.constants.signals[/** @type {keyof typeof os.constants.signals} */ (last.signal)] ?? 0;
    return `last terminating signal = ${SIGNAL_NAMES[last.signal] ?? last.signal}: ${num}`;
  }
  if (last.code === EX_CONFIG) return `last exit code = ${EX_CONFIG}: EX_CONFIG`;
  return `last exit code = ${last.code ?? 0}`;
}

/** @param {Job} job @param {any} status */
function formatService(job, status) {
  const state = status?.state ?? 'not running';
  const running = state === 'running' && status?.pid;
  const L = [];
  L.push(`system/${job.label} = {`);
  L.push(`\tactive count = ${running ? 1 : 0}`);
  L.push(`\tpath = ${job.plistPath}`);
  L.push('\ttype = LaunchDaemon');
  L.push(`\tstate = ${state}`);
  L.push('');
  L.push(`\tprogram = ${job.program}`);
  L.push('\targuments = {');
  for (const a of job.arguments) L.push(`\t\t${a}`);
  L.push('\t}');
  L.push('');
  if (job.workingDirectory) L.push(`\tworking directory = ${job.workingDirectory}`, '');
  if (job.stdoutPath) L.push(`\tstdout path = ${job.stdoutPath}`);
  if (job.stderrPath) L.push(`\tstderr path = ${job.stderrPath}`);
  L.push('\tdefault environment = {');
  L.push(`\t\tPATH => ${DEFAULT_PATH}`);
  L.push('\t}');
  L.push('');
  L.push('\tenvironment = {');
  for (const [k, v] of Object.entries(job.environment)) L.push(`\t\t${k} => ${v}`);
  L.push(`\t\tXPC_SERVICE_NAME => ${job.label}`);
  L.push('\t}');
  L.push('');
  L.push('\tdomain = system');
  if (job.userName) L.push(`\tusername = ${job.userName}`);
  if (job.groupName) L.push(`\tgroup = ${job.groupName}`);
  L.push(`\tminimum runtime = ${job.throttleInterval}`);
  L.push(`\texit timeout = ${job.exitTimeout}`);
  L.push(`\truns = ${status?.runs ?? 0}`);
  if (running) {
    L.push(`\tpid = ${status.pid}`);
    L.push(`\timmediate reason = ${status.reason ?? 'speculative'}`);
  }
  L.push('\tforks = 0');
  L.push(`\texecs = ${status?.runs ?? 0}`);
  L.push('\tinitialized = 1');
  L.push('\ttrampolined = 1');
  L.push('\tstarted suspended = 0');
  L.push('\tproxy started suspended = 0');
  L.push(`\t${lastExitLine(status?.lastExit)}`);
  L.push('');
  L.push('\tspawn type = daemon (3)');
  const props = [];
  if (job.keepAlive) props.push('keepalive');
  if (job.runAtLoad) props.push('runatload');
  if (job.programInferred) props.push('inferred program');
  if (props.length > 0) L.push(`\tproperties = ${props.join(' | ')}`);
  L.push('}');
  return L.join('\n') + '\n';
}

function formatDisabledBlock(indent) {
  const entries = Object.entries(readDisabled()).sort(([a], [b]) => a.localeCompare(b));
  const L = [`${indent}disabled services = {`];
  for (const [label, disabled] of entries) L.push(`${indent}\t"${label}" => ${disabled ? 'disabled' : 'enabled'}`);
  L.push(`${indent}}`);
  return L.join('\n') + '\n';
}

/** A service's row in `print system`'s services block (pid, last exit, label). @param {string} label @param {any} s */
function domainRow(label, s) {
  const pid = s?.state === 'running' && s.pid ? String(s.pid) : '0';
  const last = s?.lastExit ? (s.lastExit.signal ? `(${s.lastExit.signal})` : String(s.lastExit.code)) : '-';
  return `\t\t${pid.padStart(8)} ${last.padStart(8)} \t${label}`;
}

function formatDomain() {
  const labels = loadedLabels();
  const L = ['system = {', '\ttype = system', '\thandle = 0', `\tactive count = ${labels.length}`,
    `\tservice count = ${labels.length}`, '', '\tservices = {'];
  for (const label of labels) L.push(domainRow(label, loaded(label)?.status));
  L.push('\t}', '');
  return L.join('\n') + '\n' + formatDisabledBlock('\t') + '}\n';
}

function helpText() {
  const L = [
    'Usage: launchctl <subcommand> ... | help [subcommand]',
    'Many subcommands take a target specifier that refers to a domain or service',
    'within that domain. The available specifier forms are:',
    '',
    'system/[service-name]',
    'Targets the system-wide domain or service within. Root privileges are required',
    'to make modifications.',
    '',
    '(clawops test fleet stand-in: only the system domain exists on this node.)',
    '',
    'Subcommands:',
  ];
  for (const [name, desc] of Object.entries(DESCRIPTIONS)) L.push(`\t${name.padEnd(16)}${desc}`);
  return L.join('\n') + '\n';
}

/** @param {string} sub @returns {never} */
function usage(sub) {
  throw new Exit(EX_USAGE, `Usage: launchctl ${sub} ${USAGES[sub] ?? ''}\n`);
}

/**
 * Parse a domain or service target. Only the system domain exists on a fleet node.
 * @param {string} sub @param {string} spec @returns {{label?: string}}
 */
function parseTarget(sub, spec) {
  if (spec === 'system' || spec === 'system/') return {};
  if (spec.startsWith('system/')) return { label: spec.slice('system/'.length) };
  const m = /^(gui|user|login|session|pid)\/(\d+)(?:\/(.*))?$/.exec(spec);
  if (m) {
    const kind = { gui: 'user gui', user: 'uid', login: 'login', session: 'asid', pid: 'pid' }[m[1]];
    throw new Exit(ENODOMAIN, `Could not find domain for ${kind}: ${m[2]}\n`);
  }
  throw new Exit(
    EX_USAGE,
    'Unrecognized target specifier. <service-target> takes a form of <domain-target>/<service-id>.\n' +
      'Please refer to `man launchctl` for explanation of the <domain-target> specifiers.\n' +
      `Usage: launchctl ${sub} ${USAGES[sub] ?? ''}\n`,
  );
}

/** @param {string} label @returns {never} */
function noService(label) {
  throw new Exit(ENOSERVICE, `Could not find service "${label}" in domain for system\n`);
}

/** @param {string} sub @param {string[]} args */
function serviceTarget(sub, args) {
  if (args.length !== 1) usage(sub);
  const { label } = parseTarget(sub, args[0]);
  if (label === undefined) {
    throw new Exit(
      EX_USAGE,
      'Unrecognized target specifier. <service-target> takes a form of <domain-target>/<service-id>.\n' +
        'Please refer to `man launchctl` for explanation of the <domain-target> specifiers.\n' +
        `Usage: launchctl ${sub} ${USAGES[sub]}\n`,
    );
  }
  return label;
}

// ---------------------------------------------------------------------------------------------
// Subcommands

/** @param {string} label @param {(s: any) => boolean} done @param {number} timeoutMs */
async function waitStatus(label, done, timeoutMs) {
  const file = path.join(svcDir(label), 'status.json');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = readJson(file);
    if (s && done(s)) return s;
    if (Date.now() > deadline) return s;
    await sleep(5);
  }
}

/** @param {string[]} args */
async function cmdPrint(args) {
  if (args.length !== 1) usage('print');
  const { label } = parseTarget('print', args[0]);
  if (label === undefined) return { stdout: formatDomain() };
  const svc = loaded(label);
  if (!svc) noService(label);
  return { stdout: formatService(svc.job, svc.status) };
}

/** @param {string[]} args */
async function cmdPrintDisabled(args) {
  if (args.length !== 1) usage('print-disabled');
  const { label } = parseTarget('print-disabled', args[0]);
  if (label !== undefined) usage('print-disabled');
  return { stdout: formatDisabledBlock('') };
}

/** @param {string} sub @param {string[]} args */
async function cmdEnable(sub, args) {
  const label = serviceTarget(sub, args);
  fs.mkdirSync(STATE_ROOT, { recursive: true });
  const d = readDisabled();
  d[label] = sub === 'disable';
  writeJsonAtomic(DISABLED, d);
  return {};
}

/** @param {string[]} args */
async function cmdBootstrap(args) {
  if (args.length < 2) usage('bootstrap');
  const { label: domainLabel } = parseTarget('bootstrap', args[0]);
  if (domainLabel !== undefined) {
    throw new Exit(EX_USAGE, `Usage: launchctl bootstrap ${USAGES.bootstrap}\n`);
  }
  fs.mkdirSync(SERVICES, { recursive: true });
  for (const p of args.slice(1)) {
    const plistPath = path.resolve(p);
    if (!fs.existsSync(plistPath)) throw new Exit(ENOENT, 'Bootstrap failed: 2: No such file or directory\n');
    /** @type {Job} */
    let job;
    try {
      job = loadJob(plistPath);
    } catch {
      throw new Exit(EIO, 'Bootstrap failed: 5: Input/output error\n');
    }
    if (readDisabled()[job.label] === true) throw new Exit(EIO, 'Bootstrap failed: 5: Input/output error\n');
    loaded(job.label); // sweeps a stale entry whose supervisor died
    const dir = svcDir(job.label);
    try {
      fs.mkdirSync(dir); // atomic claim: a second bootstrap of the same label fails here
    } catch {
      throw new Exit(EIO, 'Bootstrap failed: 5: Input/output error\n');
    }
    writeJsonAtomic(path.join(dir, 'job.json'), job);
    const child = spawn(process.execPath, [process.argv[1] ?? ''], {
      detached: true,
      stdio: 'ignore',
      cwd: '/',
      env: { PATH: DEFAULT_PATH, LAUNCHD_STANDIN_ROOT: STATE_ROOT, LAUNCHD_STANDIN_SUPERVISE: job.label },
    });
    child.unref();
    const s = await waitStatus(job.label, (st) => typeof st.supervisorPid === 'number', 5000);
    if (!s) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Exit(EIO, 'Bootstrap failed: 5: Input/output error\n');
    }
  }
  return {};
}

/** @param {string} label @param {number} supervisorPid @param {number} timeoutMs */
async function stopSupervisor(label, supervisorPid, timeoutMs) {
  try {
    process.kill(supervisorPid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + timeoutMs;
  while (alive(supervisorPid) && Date.now() < deadline) await sleep(5);
  if (alive(supervisorPid)) {
    // The supervisor did not finish its own shutdown: kill it and whatever job it had.
    const st = readJson(path.join(svcDir(label), 'status.json'));
    if (st?.pid) killGroup(st.pid, 'SIGKILL');
    try {
      process.kill(supervisorPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  fs.rmSync(svcDir(label), { recursive: true, force: true });
}

/** @param {string[]} args */
async function cmdBootout(args) {
  if (args.length < 1) usage('bootout');
  const { label } = parseTarget('bootout', args[0]);
  /** @type {string[]} */
  let labels;
  if (label !== undefined) {
    if (args.length !== 1) usage('bootout');
    if (!loaded(label)) throw new Exit(ESRCH, 'Boot-out failed: 3: No such process\n');
    labels = [label];
  } else {
    if (args.length < 2) {
      throw new Exit(EPERM, 'Boot-out failed: 1: Operation not permitted\n'); // tearing down the system domain
    }
    labels = [];
    for (const p of args.slice(1)) {
      const plistPath = path.resolve(p);
      const byPath = loadedLabels().find((l) => loaded(l)?.job.plistPath === plistPath);
      let found = byPath;
      if (!found) {
        try {
          const l = loadJob(plistPath).label;
          if (loaded(l)) found = l;
        } catch {
          /* unreadable plist and not loaded from that path */
        }
      }
      if (!found) throw new Exit(EIO, 'Boot-out failed: 5: Input/output error\n');
      labels.push(found);
    }
  }
  for (const l of labels) {
    const svc = loaded(l);
    if (!svc) continue;
    if (!svc.status) {
      await waitStatus(l, (st) => typeof st.supervisorPid === 'number', 5000);
    }
    const st = readJson(path.join(svcDir(l), 'status.json'));
    if (st?.supervisorPid) await stopSupervisor(l, st.supervisorPid, (svc.job.exitTimeout + 3) * 1000);
    else fs.rmSync(svcDir(l), { recursive: true, force: true });
  }
  return {};
}

/** @param {string[]} args */
async function cmdKickstart(args) {
  let kill = false;
  let printPid = false;
  const rest = [];
  for (const a of args) {
    if (a.startsWith('-') && rest.length === 0) {
      for (const ch of a.slice(1)) {
        if (ch === 'k') kill = true;
        else if (ch === 'p') printPid = true;
        else if (ch === 's') {
          /* start suspended: accepted, not emulated */
        } else usage('kickstart');
      }
    } else rest.push(a);
  }
  const label = serviceTarget('kickstart', rest);
  const svc = loaded(label);
  if (!svc) noService(label);
  const st0 = svc.status ?? (await waitStatus(label, (st) => typeof st.supervisorPid === 'number', 5000));
  if (!st0) noService(label);
  const running = st0.state === 'running' && st0.pid;
  if (running && !kill) return { stdout: printPid ? `${st0.pid}\n` : '' };
  process.kill(st0.supervisorPid, kill ? 'SIGUSR1' : 'SIGUSR2');
  const gen = st0.generation ?? 0;
  const st = await waitStatus(
    label,
    (s) => (s.generation ?? 0) > gen && s.state !== 'spawning',
    (svc.job.exitTimeout + 5) * 1000,
  );
  if (!st || (st.generation ?? 0) <= gen) {
    throw new Exit(EIO, `Could not kickstart service "${label}": 5: Input/output error\n`);
  }
  return { stdout: printPid && st.pid ? `${st.pid}\n` : '' };
}

/** @param {string[]} argv */
async function main(argv) {
  const [sub, ...args] = argv;
  if (sub === undefined) return { stdout: helpText() };
  switch (sub) {
    case 'help':
      if (args.length === 0) return { stdout: helpText() };
      if (USAGES[args[0]]) return { stderr: `Usage: launchctl ${args[0]} ${USAGES[args[0]]}\n` };
      throw new Exit(EX_USAGE, 'Usage: launchctl help <subcommand>\n');
    case 'print':
      return cmdPrint(args);
    case 'print-disabled':
      return cmdPrintDisabled(args);
    case 'enable':
    case 'disable':
      return cmdEnable(sub, args);
    case 'bootstrap':
      return cmdBootstrap(args);
    case 'bootout':
      return cmdBootout(args);
    case 'kickstart':
      return cmdKickstart(args);
    default:
      if (NOT_EMULATED.has(sub)) {
        throw new Exit(E2BIMPL, `Command is not yet implemented.\n(clawops fleet launchctl stand-in: "${sub}" is not emulated)\n`);
      }
      throw new Exit(1, `Unrecognized subcommand: ${sub}\n`, helpText());
  }
}

// ---------------------------------------------------------------------------------------------
// Supervisor

/** @param {number} pid @param {NodeJS.Signals} sig */
function killGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/** @param {Job} job @param {number | null} code @param {string | null} signal */
function wantsRestart(job, code, signal) {
  const ka = job.keepAlive;
  if (ka === true) return true;
  if (!ka) return false;
  if (typeof ka.SuccessfulExit === 'boolean') {
    const success = signal === null && code === 0;
    return ka.SuccessfulExit ? success : !success;
  }
  if (ka.Crashed === true && signal !== null) return true;
  if (ka.Crashed === false && signal === null) return true;
  // PathState / OtherJobEnabled / NetworkState conditions are not emulated: keep it alive.
  return !('Crashed' in ka);
}

/** @param {string} label */
async function supervise(label) {
  const dir = svcDir(label);
  const statusFile = path.join(dir, 'status.json');
  /** @type {string} */
  let jobText;
  /** @type {Job} */
  let job;
  try {
    jobText = fs.readFileSync(path.join(dir, 'job.json'), 'utf8');
    job = JSON.parse(jobText);
  } catch {
    process.exit(1);
  }
  if (!job) process.exit(1);
  const status = {
    supervisorPid: process.pid,
    state: 'not running',
    pid: /** @type {number | null} */ (null),
    runs: 0,
    generation: 0,
    lastExit: /** @type {{code?: number, signal?: string} | null} */ (null),
    reason: /** @type {string | null} */ (null),
    spawnedAt: /** @type {string | null} */ (null),
  };
  // The answer first, then the status: once bootstrap sees the status, `print` can be answered from the answer
  // (launchctl.sh); the two are written back to back from the same status. The answer: the supervisor's pid, the
  // service's row of `print system`, the status.json line and the job.json line it was rendered from (launchctl.sh
  // answers only while both files still hold exactly these: not between the answer and its status.json, nor after
  // anyone rewrote either), then the whole `print system/<label>`. Rendered from the status as read back from its
  // JSON, as `print` reads it.
  const answerFile = path.join(dir, 'answer');
  const jobLine = jobText.split('\n')[0];
  const write = () => {
    if (!fs.existsSync(dir)) return;
    const line = JSON.stringify(status);
    const s = JSON.parse(line);
    const row = domainRow(label, s);
    const block = formatService(job, s);
    // sh's read drops NUL bytes (a plist string may hold one, &#0;): such an answer names no pid, so sh hands it on
    const pid = /\0/.test(row + block) ? '-' : String(s.supervisorPid);
    writeAtomic(answerFile, `${pid}\n${row}\n${line}\n${jobLine}\n${block}`);
    // the very line the answer holds
    writeAtomic(statusFile, `${line}\n`);
  };
  /** @type {import('node:child_process').ChildProcess | null} */
  let child = null;
  let spawnedAt = 0;
  let stopping = false;
  let restartAfterExit = false;
  /** @type {NodeJS.Timeout | undefined} */
  let restartTimer;
  /** @type {NodeJS.Timeout | undefined} */
  let killTimer;
  const keepLoopAlive = setInterval(() => {}, 1 << 30);

  const finish = () => {
    clearInterval(keepLoopAlive);
    status.state = 'not running';
    status.pid = null;
    write();
    process.exit(0);
  };

  const openLog = (p) => {
    if (!p) return 'ignore';
    return fs.openSync(p, 'a', 0o644);
  };

  /** @param {string} reason */
  const start = (reason) => {
    clearTimeout(restartTimer);
    if (child || stopping) return;
    /** @type {Record<string, string>} */
    const env = { PATH: NODE_ROOT !== '/' ? `${path.join(NODE_ROOT, 'usr/local/bin')}:${DEFAULT_PATH}` : DEFAULT_PATH };
    if (job.userName) {
      const u = os.userInfo();
      Object.assign(env, { HOME: u.homedir, USER: u.username, LOGNAME: u.username, SHELL: u.shell ?? '/bin/sh' });
    }
    for (const [k, v] of Object.entries(job.environment)) env[k] = onNode(v);
    env.XPC_SERVICE_NAME = job.label;
    /** @type {('ignore' | number)[]} */
    const fds = [];
    status.runs += 1;
    status.generation += 1;
    status.reason = reason;
    spawnedAt = Date.now();
    try {
      const out = openLog(onNode(job.stdoutPath));
      fds.push(out);
      const err = job.stderrPath && job.stderrPath === job.stdoutPath ? out : openLog(onNode(job.stderrPath));
      if (err !== out) fds.push(err);
      const c = spawn(onNode(job.program), job.arguments.slice(1).map(onNode), {
        argv0: job.arguments[0],
        cwd: onNode(job.workingDirectory || '/'),
        env,
        stdio: ['ignore', out, err],
        detached: true, // own process group, like a launchd job; kill(-pid) reaches its children
      });
      for (const fd of fds) if (typeof fd === 'number') fs.closeSync(fd);
      c.on('error', () => {
        // spawn failed (no such program, not executable): launchd reports EX_CONFIG
        if (child === c) onExit(EX_CONFIG, null);
      });
      c.on('exit', (code, signal) => {
        if (child === c) onExit(code, signal);
      });
      if (c.pid === undefined) {
        child = c; // 'error' follows
        status.state = 'spawning';
        return;
      }
      child = c;
      status.pid = c.pid;
      status.state = 'running';
      status.spawnedAt = new Date(spawnedAt).toISOString();
      write();
    } catch {
      for (const fd of fds) if (typeof fd === 'number') fs.closeSync(fd);
      child = null;
      onExit(EX_CONFIG, null);
    }
  };

  /** @param {number | null} code @param {string | null} signal */
  const onExit = (code, signal) => {
    clearTimeout(killTimer);
    child = null;
    status.pid = null;
    status.lastExit = signal ? { signal } : { code: code ?? 0 };
    if (stopping) return finish();
    if (restartAfterExit) {
      restartAfterExit = false;
      status.state = 'not running';
      return start('kickstart');
    }
    if (wantsRestart(job, code, signal)) {
      // launchd throttles respawns to one per ThrottleInterval
      const delay = Math.max(0, job.throttleInterval * 1000 - (Date.now() - spawnedAt));
      status.state = 'spawn scheduled';
      write();
      restartTimer = setTimeout(() => start('keepalive'), delay);
      return;
    }
    status.state = 'not running';
    write();
  };

  const terminate = () => {
    if (!child || child.pid === undefined) return;
    const pid = child.pid;
    killGroup(pid, 'SIGTERM');
    clearTimeout(killTimer);
    killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), job.exitTimeout * 1000);
  };

  process.on('SIGTERM', () => {
    // bootout
    stopping = true;
    clearTimeout(restartTimer);
    if (child) terminate();
    else finish();
  });
  process.on('SIGUSR1', () => {
    // kickstart -k
    if (stopping) return;
    if (child) {
      restartAfterExit = true;
      terminate();
    } else start('kickstart');
  });
  process.on('SIGUSR2', () => {
    // kickstart
    if (!stopping && !child) start('kickstart');
  });
  process.on('SIGHUP', () => {});
  process.on('SIGINT', () => {});

  if (job.runAtLoad || job.keepAlive) start('speculative');
  if (status.state !== 'running') write();
}

// ---------------------------------------------------------------------------------------------

const superviseLabel = process.env.LAUNCHD_STANDIN_SUPERVISE;
if (superviseLabel) {
  await supervise(superviseLabel);
} else {
  let code = 0;
  try {
    const r = await main(process.argv.slice(2));
    if (r.stdout) process.stdout.write(r.stdout);
    if (r.stderr) process.stderr.write(r.stderr);
  } catch (e) {
    if (e instanceof Exit) {
      if (e.stdout) process.stdout.write(e.stdout);
      if (e.stderr) process.stderr.write(e.stderr);
      code = e.code;
    } else {
      process.stderr.write(`launchctl: ${e instanceof Error ? e.message : String(e)}\n`);
      code = 1;
    }
  }
  process.exitCode = code;
}
