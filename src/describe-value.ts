// What a value is, in words, for the "got ..." end of a TypeError message.
// Private: one describer for every argument check, so the messages agree.

/**
 * 'null', 'an array', 'a string of length 3' (never the text itself),
 * 'number 5', 'boolean true', 'bigint 5', 'a Map' (an object a class made),
 * or typeof's word: 'object' (a plain object), 'undefined', 'function', 'symbol'.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string of length ${value.length}`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'object': {
      const name = className(value);
      return name === undefined ? 'object' : `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
    }
    default:
      return typeof value;
  }
}

/** The name of the class that made `value`; undefined for a plain object (or one whose prototype cannot be read). */
function className(value: object): string | undefined {
  try {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === null || proto === Object.prototype) return undefined;
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    const name: unknown = typeof ctor === 'function' ? ctor.name : undefined;
    // 'Object' too: a plain object from another realm (a vm context) has that realm's Object.prototype.
    return typeof name === 'string' && name !== '' && name !== 'Object' ? name : undefined;
  } catch {
    return undefined; // a Proxy whose traps throw
  }
}
