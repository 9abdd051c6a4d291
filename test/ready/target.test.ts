// URL targets: the scheme names the check, the port defaults to the scheme's.
import { formatTarget, parseTarget } from '../../src';

describe('parseTarget with URL targets', () => {
  test.each([
    ['tls://example.test', { host: 'example.test', port: 443, check: { tls: {} } }],
    ['tls://127.0.0.1:8443', { host: '127.0.0.1', port: 8443, check: { tls: {} } }],
    ['https://example.test/healthz', { host: 'example.test', port: 443, check: { https: { path: '/healthz' } } }],
    ['http://[::1]:8080/ready?x=1', { host: '::1', port: 8080, check: { http: { path: '/ready?x=1' } } }],
    ['HTTP://h', { host: 'h', port: 80, check: { http: { path: '/' } } }],
    ['redis://:secret@cache', { host: 'cache', port: 6379, check: { redis: { password: 'secret' } } }],
    ['rediss://cache', { host: 'cache', port: 6379, check: { redis: { tls: {} } } }],
    ['postgres://app@db/orders', { host: 'db', port: 5432, check: { postgres: { user: 'app', database: 'orders' } } }],
    ['postgresql://db:5433/x?sslmode=require', { host: 'db', port: 5433, check: { postgres: { database: 'x', tls: {} } } }],
    ['postgres://db?sslmode=prefer', { host: 'db', port: 5432, check: { postgres: {} } }],
    ['mysql://db', { host: 'db', port: 3306, check: { mysql: {} } }],
    ['amqp://mq', { host: 'mq', port: 5672, check: { amqp: {} } }],
    ['mqtt://broker', { host: 'broker', port: 1883, check: { mqtt: {} } }],
    ['nats://n', { host: 'n', port: 4222, check: { nats: {} } }],
    ['smtp://mail?starttls', { host: 'mail', port: 25, check: { smtp: { starttls: true } } }],
    ['ftp://f', { host: 'f', port: 21, check: { ftp: {} } }],
    ['ssh://s', { host: 's', port: 22, check: { ssh: {} } }],
  ])('%s', (text, expected) => {
    expect(parseTarget(text)).toEqual(expected);
  });

  test('formatTarget puts the scheme back; plain targets are unchanged', () => {
    expect(formatTarget(parseTarget('tls://127.0.0.1:8443'))).toBe('tls://127.0.0.1:8443');
    expect(formatTarget(parseTarget('https://[::1]/x'))).toBe('https://[::1]:443');
    expect(formatTarget(parseTarget('rediss://c'))).toBe('rediss://c:6379');
    expect(formatTarget(parseTarget('127.0.0.1:80'))).toBe('127.0.0.1:80');
  });

  test('bad URL targets are RangeErrors naming the target', () => {
    expect(() => parseTarget('gopher://h')).toThrow(/unknown scheme 'gopher'/);
    expect(() => parseTarget('tls://h:0')).toThrow(RangeError);
    expect(() => parseTarget('tls://h:99999')).toThrow(RangeError);
    expect(() => parseTarget('https://')).toThrow(RangeError);
  });
});
