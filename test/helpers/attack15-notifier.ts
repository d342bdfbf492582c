/**
 * Adversarial run 15 (notifier): a scriptable SMTP server on loopback that speaks just enough ESMTP for nodemailer and
 * misbehaves at a chosen point of the DATA phase, and a raw HTTP server for Slack answers no framework writes.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { holdPort } from './ports.js';

export type DataBehaviour =
  /** answer 250 at once (a well-behaved server) */
  | { kind: 'ok' }
  /** take the whole message, then never answer the final "." */
  | { kind: 'stall' }
  /** take the whole message, answer 250 only after `ms` */
  | { kind: 'late'; ms: number }
  /** take part of the message, then drop the connection */
  | { kind: 'drop' }
  /** after the final ".", trickle `250-` continuation lines every `everyMs` (forever, or until `okAfterMs`: then `250`) */
  | { kind: 'trickle'; everyMs: number; okAfterMs?: number };

export interface ScriptedSmtp {
  port: number;
  /** how many messages reached the final "." (whatever was answered) */
  dataEnds: number;
  /** how many messages were answered 250 after the final "." */
  accepted: number;
  /** connections currently open */
  open(): number;
  /** the behaviour for the next DATA phases (swap between sends) */
  behaviour: DataBehaviour;
  close(): Promise<void>;
}

export async function scriptedSmtp(behaviour: DataBehaviour): Promise<ScriptedSmtp> {
  const conns = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const fake: ScriptedSmtp = {
    port: 0,
    dataEnds: 0,
    accepted: 0,
    open: () => conns.size,
    behaviour,
    close: () => Promise.resolve(),
  };
  const onConn = (s: Socket): void => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => undefined);
    s.write('220 scripted.example ESMTP\r\n');
    let inData = false;
    let buf = '';
    let dataBytes = 0;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          dataBytes += buf.length;
          const b = fake.behaviour;
          if (b.kind === 'drop' && dataBytes > 20) {
            s.destroy();
            return;
          }
          if (end === -1) {
            buf = buf.slice(-4);
            return;
          }
          buf = buf.slice(end + 5);
          inData = false;
          fake.dataEnds++;
          if (b.kind === 'ok') {
            fake.accepted++;
            s.write('250 2.0.0 queued\r\n');
          } else if (b.kind === 'late') {
            const t = setTimeout(() => {
              if (s.destroyed) return;
              fake.accepted++;
              s.write('250 2.0.0 queued late\r\n');
            }, b.ms);
            timers.add(t);
          } else if (b.kind === 'trickle') {
            const t = setInterval(() => {
              if (!s.destroyed) s.write('250-still thinking\r\n');
            }, b.everyMs);
            timers.add(t);
            s.on('close', () => clearInterval(t));
            if (b.okAfterMs !== undefined) {
              const ok = setTimeout(() => {
                clearInterval(t);
                if (s.destroyed) return;
                fake.accepted++;
                s.write('250 2.0.0 queued at last\r\n');
              }, b.okAfterMs);
              timers.add(ok);
            }
          }
          // stall: say nothing
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl === -1) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO') s.write('250-scripted.example\r\n250 8BITMIME\r\n');
        else if (cmd === 'HELO') s.write('250 scripted.example\r\n');
        else if (cmd === 'MAIL' || cmd === 'RCPT' || cmd === 'RSET' || cmd === 'NOOP') s.write('250 ok\r\n');
        else if (cmd === 'DATA') {
          inData = true;
          dataBytes = 0;
          s.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') {
          s.end('221 bye\r\n');
          return;
        } else s.write('502 not implemented\r\n');
      }
    });
  };
  const { server, port } = await holdPort(onConn);
  fake.port = port;
  fake.close = () => closeNet(server, conns, timers);
  return fake;
}

function closeNet(server: Server, conns: Set<Socket>, timers: Set<NodeJS.Timeout>): Promise<void> {
  for (const t of timers) clearTimeout(t);
  for (const c of conns) c.destroy();
  return new Promise((r) => server.close(() => r()));
}

/** A raw TCP server for HTTP answers: `onRequest` gets the socket once the request head and body have arrived. */
export async function rawHttpServer(onRequest: (s: Socket, head: string) => void): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  const conns = new Set<Socket>();
  let n = 0;
  const server = createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    let done = false;
    s.on('data', (d: Buffer) => {
      if (done) return;
      buf += d.toString('latin1');
      const he = buf.indexOf('\r\n\r\n');
      if (he === -1) return;
      const head = buf.slice(0, he);
      const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
      if (buf.length - he - 4 < len) return;
      done = true;
      n++;
      onRequest(s, head);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/services/T0/B0/RAWSECRETTOKEN`,
    requests: () => n,
    close: () => closeNet(server, conns, new Set()),
  };
}
