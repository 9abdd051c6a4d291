// send-expect's step fields beyond send/expect (expectBytes, reply, labels,
// starttls): their validation, the split at the starttls step, and the
// template expansion, which follows Go's Regexp.Expand (what blackbox_exporter
// uses for query_response's send and labels). The exchanges themselves run
// against real servers in test/exporter/query-response.test.ts.
import { checkPlan } from '../../src/checks/index';
import { expandTemplate, splitAtStartTls, validateSteps } from '../../src/checks/send-expect';

describe('expandTemplate: as Go regexp.Expand', () => {
  const m = /^SSH-2.0-(?<soft>[^ -]+)(?: (.*))?$/.exec('SSH-2.0-OpenSSH_9.2p1 Debian-2')!;
  test.each([
    ['${1}', 'OpenSSH_9.2p1'],
    ['$1', 'OpenSSH_9.2p1'],
    ['v=$2!', 'v=Debian-2!'],
    ['${soft}/$soft', 'OpenSSH_9.2p1/OpenSSH_9.2p1'],
    // Go takes the longest name: $1x is the group named "1x", which does not exist.
    ['$1x', ''],
    ['${1}x', 'OpenSSH_9.2p1x'],
    ['$$1', '$1'],
    ['$9 and $nosuch', ' and '],
    ['no dollar', 'no dollar'],
  ])('%s', (template, want) => {
    expect(expandTemplate(template, m)).toBe(want);
  });
});

test('validateSteps: the new fields, their types and combinations', () => {
  expect(validateSteps([{ expectBytes: 'S' }, { starttls: true }, { expect: /a(b)/, reply: 'x $1\n', labels: { l: '$1' } }])).toEqual([
    { expectBytes: 'S' },
    { starttls: true },
    { expect: /a(b)/, reply: 'x $1\n', labels: { l: '$1' } },
  ]);
  expect(() => validateSteps([{ expect: 'a', expectBytes: 'b' }])).toThrow(RangeError);
  expect(() => validateSteps([{ expectBytes: '' }])).toThrow(RangeError);
  expect(() => validateSteps([{ expect: 'plain', reply: 'x' }])).toThrow(/reply and labels need a RegExp expect/);
  expect(() => validateSteps([{ expect: /a/, labels: { l: 1 } }])).toThrow(TypeError);
  expect(() => validateSteps([{ expectBytes: 5 }])).toThrow(TypeError);
  expect(() => validateSteps([{ starttls: 'yes' }])).toThrow(TypeError);
  expect(() => validateSteps([{ starttls: false }])).toThrow(/neither send nor expect/);
});

test('splitAtStartTls and the plan: the plain steps as the prelude, TLS, the rest over TLS', () => {
  const steps = validateSteps([{ expect: /^220/ }, { send: 'STARTTLS\r\n', expect: /^220/, starttls: true }, { send: 'EHLO x\r\n', expect: /^250 / }]);
  const { before, after } = splitAtStartTls(steps);
  expect(before).toHaveLength(2);
  expect(after).toEqual([{ send: 'EHLO x\r\n', expect: /^250 / }]);
  expect(splitAtStartTls([{ send: 'x' }])).toEqual({ before: undefined, after: [{ send: 'x' }] });
  expect(() => splitAtStartTls([{ starttls: true }, { starttls: true }])).toThrow(RangeError);
  const plan = checkPlan({ 'send-expect': { steps, tls: { servername: 'localhost' } } });
  expect(plan.name).toBe('send-expect+starttls');
  expect(plan.prelude).toBeDefined();
  expect(plan.tls).toBeDefined();
  expect(plan.options).toMatchObject({ steps: after, first: 2 });
  // Nothing after the starttls step: TLS is the last thing checked.
  expect(checkPlan({ 'send-expect': { steps: [{ expect: /^220/, starttls: true }] } }).protocol).toBeUndefined();
  expect(() => checkPlan({ 'send-expect': { steps: [{ starttls: true }], tls: false } })).toThrow(/needs TLS/);
});
