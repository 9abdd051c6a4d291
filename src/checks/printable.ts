// Bytes as a person can read them, for a check's evidence. (The protocol
// modules' exchange.ts has the same rendering; this file goes once both land.)

/** Printable ASCII as is, \r \n \t and \\ escaped, everything else \xNN; at most `limit` characters. */
export function printable(bytes: Buffer | string, limit = 256): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '';
  for (const b of buf) {
    const piece =
      b === 0x5c ? '\\\\' : b === 0x0d ? '\\r' : b === 0x0a ? '\\n' : b === 0x09 ? '\\t' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
    if (out.length + piece.length > limit) break;
    out += piece;
  }
  return out;
}
