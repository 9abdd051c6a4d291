// The protocol modules and their STARTTLS preludes, as lists the registry
// (src/checks/index.ts) builds its maps from: one place to add a module.
// (send-expect is not here: it has no URL scheme and takes its steps as options.)
import type * as net from 'node:net';
import { amqp } from './amqp';
import type { TlsPrelude } from './exchange';
import { ftp } from './ftp';
import { mqtt } from './mqtt';
import { mysql } from './mysql';
import { nats } from './nats';
import { postgres, postgresSslRequest } from './postgres';
import type { ProtocolCheck } from './protocol';
import { redis } from './redis';
import { smtp, smtpStartTls } from './smtp';
import { ssh } from './ssh';

export const protocolModules: readonly ProtocolCheck[] = [postgres, redis, mysql, amqp, mqtt, nats, smtp, ftp, ssh];

/** STARTTLS preludes by protocol name: Postgres's SSLRequest, SMTP's EHLO/STARTTLS. */
export const starttlsPreludes: Readonly<Record<string, (socket: net.Socket, signal: AbortSignal) => Promise<TlsPrelude>>> = {
  postgres: postgresSslRequest,
  smtp: (socket, signal) => smtpStartTls(socket, signal),
};
