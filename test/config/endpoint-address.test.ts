// An endpoint's address must be one a proxy can reach the node at. 0.0.0.0 (a node's listen
// address, easy to copy by mistake) passed as an IP literal, and every proxy then connected to its
// own host for that node's shards; a multicast or broadcast address takes no TCP connection at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { KeywayErrors } from '../../src/core/errors.js';

const file = (address: string): string => `shards: 8\nendpoints:\n  - id: a\n    address: "${address}"\n    port: 80\n`;

/** Parsing a file with `address` fails at the address's field and line, with a message matching `why`. */
function refusedAt(address: string, why: RegExp): void {
  assert.throws(
    () => parseConfig(file(address), 'topo.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof KeywayErrors, String(err));
      const hit = err.errors.find((e) => e.location.field === 'endpoints[0].address');
      assert.ok(hit, err.message);
      assert.equal(hit.code, 'CONFIG_INVALID');
      assert.equal(hit.location.line, 4);
      assert.match(hit.message, why);
      return true;
    },
  );
}

for (const address of ['0.0.0.0', '0.1.2.3', '::', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0', '224.0.0.1', '239.255.255.255', '255.255.255.255', 'ff02::1', '::ffff:224.0.0.1']) {
  test(`endpoint address ${address} is refused at its field and line`, () => {
    refusedAt(address, /must be an address a node can be reached at, got ".*": an unspecified \(0\.0\.0\.0, ::\), broadcast or multicast address/);
  });
}

// An IPv6 link-local address is reached only with its zone (`fe80::1%eth0`), which proxies refuse:
// without one, connect() fails with EINVAL, so Envoy answered every request of the node's shards
// "upstream connect error" while the node was up.
for (const address of ['fe80::1', 'FE80::a:b', 'fe80:0:0:0:0:0:0:1', 'febf:ffff::1']) {
  test(`IPv6 link-local endpoint address ${address} is refused at its field and line`, () => {
    refusedAt(address, /IPv6 link-local address \(fe80::\/10\) is reached only through a zone index/);
  });
}

test('unicast addresses, loopback and IPv4 link-local included, stay allowed', () => {
  for (const address of ['10.0.0.1', '127.0.0.1', '1.0.0.0', '223.255.255.255', '240.0.0.1', '169.254.0.1', '::ffff:169.254.0.1', '::1', 'fd00::1', 'fec0::1', 'fe7f::1', '::ffff:10.0.0.1', '2001:db8::1']) {
    assert.equal(parseConfig(file(address), 'topo.yaml').topology.endpoints[0]!.address, address);
  }
});
