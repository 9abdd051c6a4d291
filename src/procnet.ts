// TCP listeners of this network namespace, read from /proc/net/tcp and
// /proc/net/tcp6 (Linux) without shelling out to ss or netstat, and the
// processes that hold them, from /proc/PID/fd, as far as this user may look.
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { TCP_STATE } from './tcp-states';

export interface TcpListener {
  /** The bound address: '0.0.0.0' or '::' for every address of the family. */
  address: string;
  family: 4 | 6;
  port: number;
  /** Owner of the socket. */
  uid: number;
  /** Socket inode: what /proc/PID/fd/N links to as socket:[inode]. */
  inode: number;
  /** The process holding the socket, when /proc lets this user see it. */
  pid?: number;
  command?: string;
}

const littleEndian = os.endianness() === 'LE';

/** The kernel prints each 32-bit word of the address as a hex number in host byte order. */
function addressBytes(hex: string): Buffer {
  const bytes = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < hex.length; i += 8) {
    const word = parseInt(hex.slice(i, i + 8), 16);
    if (littleEndian) bytes.writeUInt32LE(word, i / 2);
    else bytes.writeUInt32BE(word, i / 2);
  }
  return bytes;
}

/** Canonical text of an IPv6 address, as inet_ntop writes it (RFC 5952; IPv4-mapped as ::ffff:a.b.c.d). */
export function canonicalIPv6(address: string): string {
  const [plain = address] = address.split('%', 1);
  return new net.SocketAddress({ address: plain, family: 'ipv6' }).address;
}

export function formatIPv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return canonicalIPv6(groups.join(':'));
}

function parseTable(content: string, family: 4 | 6): TcpListener[] {
  const listeners: TcpListener[] = [];
  for (const line of content.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    const fields = line.trim().split(/\s+/);
    // `st` is the state number in hex ('0A' for listen).
    if (fields.length < 10 || parseInt(fields[3] ?? '', 16) !== TCP_STATE.listen) continue;
    const [addressHex = '', portHex = ''] = (fields[1] ?? '').split(':');
    if (addressHex.length !== (family === 4 ? 8 : 32)) continue;
    const bytes = addressBytes(addressHex);
    listeners.push({
      address: family === 4 ? Array.from(bytes).join('.') : formatIPv6(bytes),
      family,
      port: parseInt(portHex, 16),
      uid: Number(fields[7]),
      inode: Number(fields[9]),
    });
  }
  return listeners;
}

async function readOptional(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return ''; // no IPv6 in this kernel, or no /proc: no listeners to report
  }
}

/** pid and command of each socket inode in `inodes`, for the processes this user may inspect. */
async function socketOwners(inodes: ReadonlySet<number>): Promise<Map<number, { pid: number; command: string }>> {
  const owners = new Map<number, { pid: number; command: string }>();
  if (inodes.size === 0) return owners;
  const pids = (await fs.readdir('/proc').catch(() => [] as string[])).filter((name) => /^[0-9]+$/.test(name));
  await Promise.all(
    pids.map(async (pid) => {
      const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      for (const fd of fds) {
        const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        const match = /^socket:\[([0-9]+)\]$/.exec(link);
        if (match === null) continue;
        const inode = Number(match[1]);
        if (!inodes.has(inode) || owners.has(inode)) continue;
        const command = (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
        owners.set(inode, { pid: Number(pid), command });
      }
    }),
  );
  return owners;
}

/**
 * TCP sockets in LISTEN state in this process's network namespace, IPv4 and
 * IPv6, optionally only those on `port`. Empty where /proc/net is missing
 * (not Linux).
 */
export async function readTcpListeners(port?: number): Promise<TcpListener[]> {
  const [v4, v6] = await Promise.all([readOptional('/proc/net/tcp'), readOptional('/proc/net/tcp6')]);
  const all = [...parseTable(v4, 4), ...parseTable(v6, 6)].filter((l) => port === undefined || l.port === port);
  const owners = await socketOwners(new Set(all.map((l) => l.inode).filter((inode) => inode !== 0)));
  return all.map((l) => ({ ...l, ...owners.get(l.inode) }));
}

/**
 * Whether a listener bound to `listener` accepts connections to `address`:
 * the same address, the wildcard of its family, an IPv4-mapped IPv6 bind of
 * it, or the IPv6 wildcard for an IPv4 address (a dual-stack socket; the
 * default unless IPV6_V6ONLY or net.ipv6.bindv6only is set).
 */
export function listenerAccepts(listener: Pick<TcpListener, 'address' | 'family'>, probed: string, family: 4 | 6): boolean {
  const address = family === 6 ? canonicalIPv6(probed) : probed;
  if (listener.address === address) return true;
  if (listener.family === family) return listener.address === (family === 4 ? '0.0.0.0' : '::');
  if (family === 4) return listener.address === '::' || listener.address === `::ffff:${address}`;
  return false;
}
