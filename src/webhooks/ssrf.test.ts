/**
 * The SSRF guard: a table of callback URLs (IPv4 shorthand forms, IPv6, embedded IPv4,
 * metadata names, DNS names resolving to private addresses) and the allow options.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isOmniserveError } from '../errors.ts';
import { classifyIp, formatIp, parseIp } from './ip.ts';
import { checkUrl, createUrlChecker, refusalOf, type Resolve, type SsrfAllow } from './ssrf.ts';

/** A fake DNS zone; unknown names fail like NXDOMAIN. */
const ZONE: Record<string, string[]> = {
  'hooks.example.com': ['93.184.215.14'],
  'v6.example.com': ['2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'internal.example.com': ['10.0.0.1'],
  'mixed.example.com': ['93.184.215.14', '192.168.1.20'],
  'rebind.example.com': ['127.0.0.1'],
  'cgnat.example.com': ['100.64.3.4'],
  'mapped.example.com': ['::ffff:169.254.169.254'],
  'ula.example.com': ['fd12:3456::1'],
  'localhost': ['127.0.0.1', '::1'],
  'garbage.example.com': ['not-an-ip'],
};
const asked: string[] = [];
const resolve: Resolve = async (host) => {
  asked.push(host);
  const a = ZONE[host];
  if (a === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return a;
};

/** [url, expected refusal reason or 'ok' (with the addresses it must yield)]. */
const TABLE: [string, string, string[]?][] = [
  ['https://hooks.example.com/cb?token=1', 'ok', ['93.184.215.14']],
  ['http://v6.example.com:8080/', 'ok', ['2606:2800:21f:cb07:6820:80da:af6b:8b2c']],
  ['https://93.184.215.14/', 'ok', ['93.184.215.14']],
  ['http://[2606:4700::1111]/', 'ok', ['2606:4700::1111']],
  ['http://[2002:5db8:d70e::1]/', 'ok', ['2002:5db8:d70e::1']], // 6to4 of a public IPv4
  ['http://127.0.0.1/', 'loopback'],
  ['http://127.1.2.3:9000/', 'loopback'],
  ['http://2130706433/', 'loopback'], // decimal
  ['http://0x7f.1/', 'loopback'], // hex + shorthand
  ['http://0177.0.0.1/', 'loopback'], // octal
  ['http://017700000001/', 'loopback'], // octal, one number
  ['http://[::1]/', 'loopback'],
  ['http://[::ffff:127.0.0.1]/', 'loopback'], // IPv4-mapped
  ['http://[::127.0.0.1]/', 'loopback'], // IPv4-compatible
  ['http://[64:ff9b::7f00:1]/', 'loopback'], // NAT64
  ['http://localhost:3000/', 'loopback'],
  ['http://api.localhost/', 'loopback'],
  ['http://10.0.0.1/', 'private'],
  ['http://172.16.5.4/', 'private'],
  ['http://172.31.255.255/', 'private'],
  ['http://192.168.0.1/', 'private'],
  ['http://100.64.0.1/', 'private'], // CGNAT
  ['http://[fc00::1]/', 'private'],
  ['http://[fd12:3456::1]/', 'private'],
  ['http://[2002:c0a8:101::1]/', 'private'], // 6to4 of 192.168.1.1
  ['http://internal.example.com/', 'private'],
  ['http://mixed.example.com/', 'private'], // one bad answer refuses the name
  ['http://cgnat.example.com/', 'private'],
  ['http://ula.example.com/', 'private'],
  ['http://169.254.1.1/', 'link-local'],
  ['http://[fe80::1]/', 'link-local'],
  ['http://169.254.169.254/latest/meta-data/', 'metadata'],
  ['http://[::ffff:a9fe:a9fe]/', 'metadata'],
  ['http://[fd00:ec2::254]/', 'metadata'],
  ['http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
  ['http://METADATA.GOOGLE.INTERNAL./', 'metadata'],
  ['http://100.100.100.200/', 'metadata'],
  ['http://mapped.example.com/', 'metadata'],
  ['http://0.0.0.0/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://[::]/', 'unspecified'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://[ff02::1]/', 'multicast'],
  ['http://255.255.255.255/', 'broadcast'],
  ['http://240.1.2.3/', 'reserved'],
  ['http://[2001:db8::1]/', 'reserved'],
  ['ftp://hooks.example.com/', 'scheme'],
  ['file:///etc/passwd', 'scheme'],
  ['gopher://127.0.0.1:6379/_PING', 'scheme'],
  ['http://user:pass@hooks.example.com/', 'credentials'],
  ['http://garbage.example.com/', 'invalid-address'],
  ['not a url', 'invalid-url'],
];

describe('SSRF guard', () => {
  test(`a table of ${TABLE.length} URLs`, async () => {
    for (const [url, want, addresses] of TABLE) {
      const got = await checkUrl(url, { resolve }).then((c) => ({ reason: 'ok', addresses: c.addresses }), (e) => ({ reason: refusalOf(e) ?? `threw ${e}`, addresses: undefined }));
      assert.equal(got.reason, want, url);
      if (addresses) assert.deepEqual(got.addresses, addresses, url);
    }
  });

  test('IP literals never reach the resolver; names do', async () => {
    asked.length = 0;
    await checkUrl('http://[::ffff:127.0.0.1]/', { resolve }).catch(() => {});
    await checkUrl('http://2130706433/', { resolve }).catch(() => {});
    assert.deepEqual(asked, []);
    await checkUrl('http://internal.example.com/', { resolve }).catch(() => {});
    assert.deepEqual(asked, ['internal.example.com']);
  });

  test('refusals are INVALID_REQUEST naming the reason, without secrets from the URL', async () => {
    const e = await checkUrl('http://internal.example.com/cb?token=s3cret', { resolve }).catch((x: unknown) => x);
    assert.ok(isOmniserveError(e, 'INVALID_REQUEST'));
    assert.equal(e.details?.refused, 'private');
    assert.equal(e.details?.address, '10.0.0.1');
    assert.match(e.message, /internal\.example\.com resolves to 10\.0\.0\.1, which is a private address/);
    assert.doesNotMatch(JSON.stringify(e.toJSON()), /s3cret/);
  });

  test('DNS failures are errors to retry, not refusals', async () => {
    const e = await checkUrl('https://nxdomain.example.com/', { resolve }).catch((x: unknown) => x);
    assert.equal(refusalOf(e), undefined);
    assert.match(String(e), /ENOTFOUND/);
  });

  test('allow options: loopback, private, link-local, hosts and CIDRs', async () => {
    const reason = (url: string, allow: SsrfAllow) =>
      checkUrl(url, { resolve, allow }).then(() => 'ok', (e) => refusalOf(e) ?? String(e));
    assert.equal(await reason('http://127.0.0.1:8080/', { loopback: true }), 'ok');
    assert.equal(await reason('http://[::ffff:127.0.0.1]/', { loopback: true }), 'ok');
    assert.equal(await reason('http://localhost:8080/', { loopback: true }), 'ok');
    assert.equal(await reason('http://rebind.example.com/', { loopback: true }), 'ok');
    assert.equal(await reason('http://10.0.0.1/', { loopback: true }), 'private');
    assert.equal(await reason('http://10.0.0.1/', { private: true }), 'ok');
    assert.equal(await reason('http://169.254.1.1/', { linkLocal: true }), 'ok');
    assert.equal(await reason('http://169.254.169.254/', { linkLocal: true, private: true, loopback: true }), 'metadata');
    assert.equal(await reason('http://169.254.169.254/', { cidrs: ['169.254.169.254/32'] }), 'ok');
    assert.equal(await reason('http://10.20.30.40/', { cidrs: ['10.20.0.0/16'] }), 'ok');
    assert.equal(await reason('http://10.21.30.40/', { cidrs: ['10.20.0.0/16'] }), 'private');
    assert.equal(await reason('http://[::ffff:10.20.1.1]/', { cidrs: ['10.20.0.0/16'] }), 'ok');
    assert.equal(await reason('http://ula.example.com/', { cidrs: ['fd12:3456::/32'] }), 'ok');
    assert.equal(await reason('http://internal.example.com/', { hosts: ['internal.example.com'] }), 'ok');
    assert.equal(await reason('http://internal.example.com/', { hosts: ['*.example.com'] }), 'ok');
    assert.equal(await reason('http://internal.example.com/', { hosts: ['*.example.org'] }), 'private');
    assert.equal(await reason('ftp://internal.example.com/', { hosts: ['internal.example.com'] }), 'scheme');
    assert.throws(() => createUrlChecker({ resolve, allow: { cidrs: ['10.0.0.0/33'] } }), (e) => isOmniserveError(e, 'INVALID_CONFIG'));
  });

  test('IP parsing and formatting', () => {
    for (const [text, canonical] of [['::ffff:127.0.0.1', '::ffff:7f00:1'], ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['fe80::', 'fe80::'], ['::', '::'], ['1.2.3.4', '1.2.3.4']]) {
      assert.equal(formatIp(parseIp(text!)!), canonical, text);
    }
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'example.com', '']) {
      assert.equal(parseIp(bad), null, bad);
    }
    assert.equal(classifyIp(parseIp('8.8.8.8')!), null);
    assert.equal(classifyIp(parseIp('::2')!), 'unspecified');
  });
});
