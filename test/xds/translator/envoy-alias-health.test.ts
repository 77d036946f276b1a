import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../../src/core/endpoint.js';
import { envoyLoadAssignment } from '../../../src/xds/translator/envoy-endpoints.js';
import { placeEnvoyHosts } from '../../../src/xds/translator/envoy-placement.js';

const node = (id: string, address: string): Endpoint => ({ id, address, port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true });

/** [priority, id, address, active check off] of every lb_endpoint. */
function entries(owners: readonly (readonly Endpoint[])[]): [number, string, string, boolean][] {
  const cla = envoyLoadAssignment('c', placeEnvoyHosts(owners).hosts);
  return cla.endpoints.flatMap((l) =>
    l.lbEndpoints.map((e): [number, string, string, boolean] => {
      const ep = e.hostIdentifier.case === 'endpoint' ? e.hostIdentifier.value : undefined;
      const sock = ep?.address?.address.case === 'socketAddress' ? ep.address.address.value.address : '';
      return [l.priority, ep?.hostname ?? '', sock, ep?.healthCheckConfig?.disableActiveHealthCheck === true];
    }),
  );
}

test('a node listed twice (primary, and ::ffff: alias as a replica) is health-checked once, through its primary entry', () => {
  const a = node('a', '10.0.0.1');
  const b = node('b', '10.0.0.2');
  assert.deepEqual(entries([[a, b], [b, a]]), [
    [0, 'a', '10.0.0.1', false],
    [0, 'b', '10.0.0.2', false],
    [1, 'a', '::ffff:10.0.0.1', true],
    [1, 'b', '::ffff:10.0.0.2', true],
  ]);
});

test('a node that leads nothing keeps its check on its only (priority-1) entry', () => {
  const a = node('a', '10.0.0.1');
  const c = node('c', '10.0.0.3');
  assert.deepEqual(entries([[a, c], [a, c]]), [
    [0, 'a', '10.0.0.1', false],
    [1, 'c', '::ffff:10.0.0.3', false],
  ]);
});
