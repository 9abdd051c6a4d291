// The tls check: a TLS handshake on the connected socket, then the server's
// certificate judged by this module rather than by Node. The handshake runs
// with rejectUnauthorized: false so that a certificate which fails
// verification (expired, self-signed, wrong name, missing intermediate) still
// shows its dates and chain: that is the evidence an operator needs, and
// what blackbox_exporter loses once a certificate expired (its #1119). The
// verdict is then OpenSSL's verification result (authorizationError) and,
// when that passed, tls.checkServerIdentity() on the name asked for.
//
// SNI carries a host name, never an IP address (RFC 6066 section 3): a target
// given as an address sends no SNI unless `servername` names one, and its
// certificate is then checked against the address (an IP SAN).
import * as crypto from 'node:crypto';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { describeValue } from '../describe-value';
import type { CertificateDetail, TlsDetail } from '../types';
import { checkHost, isObject, literalFamily } from '../validate';
import type { NotReadyReason } from './protocol';

/** PEM text or DER/PEM bytes, one or several. */
export type Pem = string | Buffer | readonly (string | Buffer)[];

export interface TlsCheckOptions {
  /** SNI and the name the certificate must carry; default: the target's host when it is a name. Never an IP address. */
  servername?: string;
  /** ALPN protocols to offer, e.g. ['h2', 'http/1.1']. */
  alpn?: readonly string[];
  /** Trusted CA certificates (PEM) instead of Node's bundled roots. */
  ca?: Pem;
  /** Client certificate chain and its private key (PEM), for servers that ask for one. */
  cert?: Pem;
  key?: Pem;
  passphrase?: string;
  /** Ready even when the certificate does not verify (the evidence is still reported). Default false. */
  insecure?: boolean;
}

/** Validated tls options. */
export interface TlsSettings {
  servername: string | undefined;
  alpn: string[] | undefined;
  ca: string | Buffer | (string | Buffer)[] | undefined;
  cert: string | Buffer | (string | Buffer)[] | undefined;
  key: string | Buffer | (string | Buffer)[] | undefined;
  passphrase: string | undefined;
  insecure: boolean;
}

const TLS_KEYS = new Set(['servername', 'alpn', 'ca', 'cert', 'key', 'passphrase', 'insecure']);

function checkPem(value: unknown, name: string): string | Buffer | (string | Buffer)[] | undefined {
  if (value === undefined) return undefined;
  const one = (v: unknown, n: string): string | Buffer => {
    if (typeof v === 'string' || Buffer.isBuffer(v)) {
      if (v.length === 0) throw new RangeError(`${n} must not be empty`);
      return v;
    }
    throw new TypeError(`${n} must be PEM text or a Buffer, got ${describeValue(v)}`);
  };
  if (Array.isArray(value)) {
    if (value.length === 0) throw new RangeError(`${name} must not be an empty array`);
    return value.map((v, i) => one(v, `${name}[${i}]`));
  }
  return one(value, name);
}

/** Checks tls options (TypeError for a wrong type, RangeError for a bad value). `where` names them in errors. */
export function tlsSettings(value: unknown, where = 'check.tls'): TlsSettings {
  if (value === undefined || value === true) value = {};
  if (!isObject(value)) throw new TypeError(`${where} must be an object, got ${describeValue(value)}`);
  for (const key of Object.keys(value)) if (!TLS_KEYS.has(key)) throw new RangeError(`${where}: unknown option '${key}'`);
  let servername: string | undefined;
  if (value.servername !== undefined) {
    servername = checkHost(value.servername, `${where}.servername`);
    if (literalFamily(servername) !== 0)
      throw new RangeError(`${where}.servername must be a host name, not an IP address (RFC 6066 forbids an address in SNI), got '${servername}'`);
  }
  let alpn: string[] | undefined;
  if (value.alpn !== undefined) {
    if (!Array.isArray(value.alpn)) throw new TypeError(`${where}.alpn must be an array of protocol names, got ${describeValue(value.alpn)}`);
    alpn = value.alpn.map((p: unknown, i: number) => {
      if (typeof p !== 'string') throw new TypeError(`${where}.alpn[${i}] must be a string, got ${describeValue(p)}`);
      if (p.length === 0 || p.length > 255) throw new RangeError(`${where}.alpn[${i}] must be 1 to 255 characters`);
      return p;
    });
  }
  if (value.passphrase !== undefined && typeof value.passphrase !== 'string')
    throw new TypeError(`${where}.passphrase must be a string, got ${describeValue(value.passphrase)}`);
  if (value.insecure !== undefined && typeof value.insecure !== 'boolean')
    throw new TypeError(`${where}.insecure must be a boolean, got ${describeValue(value.insecure)}`);
  const cert = checkPem(value.cert, `${where}.cert`);
  const key = checkPem(value.key, `${where}.key`);
  if ((cert === undefined) !== (key === undefined)) throw new RangeError(`${where}: cert and key go together`);
  return {
    servername,
    alpn,
    ca: checkPem(value.ca, `${where}.ca`),
    cert,
    key,
    passphrase: value.passphrase as string | undefined,
    insecure: value.insecure === true,
  };
}

const iso = (date: string): string => {
  const t = Date.parse(date);
  return Number.isNaN(t) ? date : new Date(t).toISOString();
};

/** "CN=a\nO=b" (Node's X509Certificate.subject) as "CN=a, O=b". */
const dn = (text: string): string => text.split('\n').filter((p) => p !== '').join(', ');

function certificateDetail(x: crypto.X509Certificate): CertificateDetail {
  return {
    subject: dn(x.subject),
    issuer: dn(x.issuer),
    subjectAltNames: x.subjectAltName === undefined ? [] : x.subjectAltName.split(', '),
    notBefore: iso(x.validFrom),
    notAfter: iso(x.validTo),
    fingerprint256: x.fingerprint256,
    serialNumber: x.serialNumber,
  };
}

/**
 * The chain as Node walks it (getPeerCertificate(true)): the certificates the
 * server presented, ordered from the leaf by issuer, then whatever issuers
 * the trust store supplied. Returns DER buffers, leaf first, without repeats.
 */
function walkChain(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (c !== undefined && c.raw !== undefined) {
    if (seen.has(c.fingerprint256)) break;
    seen.add(c.fingerprint256);
    out.push(c.raw);
    c = c.issuerCertificate;
  }
  return out;
}

/** The fingerprints of the CAs this check trusts (its `ca`, else Node's bundled roots), to tell them from presented certificates. */
function trusted(ca: TlsSettings['ca']): Set<string> {
  const list = ca === undefined ? tls.rootCertificates : Array.isArray(ca) ? ca : [ca];
  const out = new Set<string>();
  for (const item of list) {
    const text = Buffer.isBuffer(item) ? item.toString('latin1') : item;
    const pems = text.includes('-----BEGIN') ? text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [] : [item];
    for (const pem of pems) {
      try {
        out.add(new crypto.X509Certificate(pem).fingerprint256);
      } catch {
        // Not a certificate Node can read: it cannot be in the chain either.
      }
    }
  }
  return out;
}

function earliest(certs: readonly CertificateDetail[]): string | null {
  let best: string | null = null;
  for (const c of certs) if (best === null || Date.parse(c.notAfter) < Date.parse(best)) best = c.notAfter;
  return best;
}

/** The reason word for a verification error code. */
export function verifyReason(code: string): NotReadyReason {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
    case 'CRL_HAS_EXPIRED':
      return 'cert-expired';
    case 'CERT_NOT_YET_VALID':
    case 'CRL_NOT_YET_VALID':
      return 'cert-not-yet-valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
    case 'IP_ADDRESS_MISMATCH':
      return 'cert-name-mismatch';
    default:
      return 'cert-untrusted';
  }
}

/** How the handshake ended. */
export type TlsOutcome =
  | { ok: true; socket: tls.TLSSocket; tls: TlsDetail; reason: NotReadyReason | undefined; code: string | null }
  | { ok: false; tls: TlsDetail; reason: NotReadyReason; code: string; message: string };

/**
 * Runs a TLS handshake on `socket` and judges the certificate. Resolves once
 * the handshake completed or failed; rejects only with the signal's reason
 * (the runner maps its deadline to no-reply). On success the TLS socket is
 * returned open (an http or protocol step may follow); on failure it is destroyed.
 * `host`: the target's host as given (a name is the default SNI); `address`: the numeric peer.
 */
export function tlsHandshake(socket: net.Socket, s: TlsSettings, host: string, signal: AbortSignal): Promise<TlsOutcome> {
  return new Promise((resolve, reject) => {
    const servername = s.servername ?? (host !== '' && literalFamily(host) === 0 ? host : undefined);
    // Whose name the certificate must carry: the SNI name, else the address the socket reached.
    const identity = servername ?? socket.remoteAddress ?? host;
    const started = performance.now();
    const options: tls.ConnectionOptions = {
      socket,
      rejectUnauthorized: false,
      // Judged below, after OpenSSL's own verification, so a failing one is reported, not thrown.
      checkServerIdentity: () => undefined,
    };
    if (servername !== undefined) options.servername = servername;
    if (s.alpn !== undefined) options.ALPNProtocols = s.alpn;
    if (s.ca !== undefined) options.ca = s.ca;
    if (s.cert !== undefined) options.cert = s.cert;
    if (s.key !== undefined) options.key = s.key;
    if (s.passphrase !== undefined) options.passphrase = s.passphrase;
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let t: tls.TLSSocket;
    try {
      t = tls.connect(options);
    } catch (error) {
      // Bad key or certificate material: the caller's fault, a rejection of the probe.
      reject(error);
      return;
    }
    const detail = (): TlsDetail => ({
      servername: servername ?? null,
      version: null,
      cipher: null,
      alpn: null,
      handshakeMs: Math.round((performance.now() - started) * 1000) / 1000,
      authorized: false,
      verifyError: null,
      leaf: null,
      chain: [],
      earliestNotAfter: null,
      verifiedChainNotAfter: null,
    });
    const stop = (): void => {
      t.removeListener('secureConnect', onSecure);
      t.removeListener('error', onError);
      t.removeListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      stop();
      t.destroy();
      reject(signal.reason);
    };
    const onError = (error: NodeJS.ErrnoException & { reason?: string }): void => {
      stop();
      t.destroy();
      const code = error.code ?? 'ERR_TLS_HANDSHAKE';
      // Node says ECONNRESET both for a reset (from read()) and for a FIN during the handshake.
      if (code === 'ECONNRESET' && error.syscall === undefined) {
        resolve({ ok: false, tls: detail(), reason: 'closed-before-reply', code: 'EOF', message: 'the server closed the connection during the TLS handshake' });
        return;
      }
      const reason: NotReadyReason = code === 'ECONNRESET' || code === 'EPIPE' ? 'reset-before-reply' : 'tls-handshake';
      // OpenSSL's reason ('wrong version number') rather than its multi-line error string.
      resolve({ ok: false, tls: detail(), reason, code, message: typeof error.reason === 'string' ? error.reason : (error.message.split('\n')[0] ?? '') });
    };
    const onClose = (): void => {
      stop();
      resolve({ ok: false, tls: detail(), reason: 'closed-before-reply', code: 'EOF', message: 'the server closed the connection during the TLS handshake' });
    };
    const onSecure = (): void => {
      stop();
      const d = detail();
      d.version = t.getProtocol();
      d.cipher = t.getCipher()?.standardName ?? null;
      d.alpn = typeof t.alpnProtocol === 'string' ? t.alpnProtocol : null;
      const ders = walkChain(t);
      const roots = trusted(s.ca);
      const all = ders.map((der) => certificateDetail(new crypto.X509Certificate(der)));
      d.leaf = all[0] ?? null;
      // Presented: the walk minus the trust store's additions at its end (a
      // server may send its root too; then it counts as presented: it was).
      let presented = all.length;
      while (presented > 1 && roots.has((all[presented - 1] as CertificateDetail).fingerprint256)) presented--;
      d.chain = all.slice(0, presented);
      d.earliestNotAfter = earliest(d.chain);
      let code: string | null = t.authorizationError === null ? null : String(t.authorizationError);
      if (code === null && d.leaf !== null) {
        const peer = t.getPeerCertificate(false);
        const mismatch = tls.checkServerIdentity(identity, peer);
        if (mismatch !== undefined) code = (mismatch as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID';
      }
      d.verifyError = code;
      d.authorized = code === null;
      if (code === null) d.verifiedChainNotAfter = earliest(all);
      resolve({ ok: true, socket: t, tls: d, reason: code === null || s.insecure ? undefined : verifyReason(code), code });
    };
    t.once('secureConnect', onSecure);
    t.once('error', onError);
    t.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One sentence for a handshake's outcome. */
export function tlsSentence(o: TlsOutcome): string {
  if (!o.ok) return `the TLS handshake failed: ${o.message} (${o.code})`;
  const d = o.tls;
  const leaf = d.leaf;
  const what = `${d.version ?? 'TLS'} ${d.cipher ?? ''}`.trim();
  if (o.code === null) return `${what}, certificate verified (${leaf === null ? 'none' : `${leaf.subject}, expires ${leaf.notAfter}`})`;
  const expiry = leaf === null ? '' : `; certificate ${leaf.subject} valid ${leaf.notBefore} to ${leaf.notAfter}`;
  return `${what}, certificate does not verify: ${o.code}${expiry}`;
}
