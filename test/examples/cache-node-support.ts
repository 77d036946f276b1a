/**
 * What the example cache node's tests share: a peer node's HTTP side on 127.0.0.1, and a stand-in
 * for the ownership agent whose assignments the test sets and whose `warm` it calls.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Assignment, CreateOwnershipAgent, OwnershipAgentOptions } from '../../examples/cache-node/agent-ownership.js';

/** An HTTP server on 127.0.0.1 answering with `handler`, closed after the test; resolves with its port. */
export async function startPeer(t: { after(fn: () => unknown): void }, handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** A stand-in agent: connected, handed off, holding `assignments`; `options()` is what the node gave it (its `warm`, `onChange`). */
export interface StandInAgent {
  readonly create: CreateOwnershipAgent;
  readonly assignments: Map<number, Assignment>;
  options(): OwnershipAgentOptions;
}

export function standInAgent(shardCount: number): StandInAgent {
  let given: OwnershipAgentOptions | undefined;
  const assignments = new Map<number, Assignment>();
  return {
    assignments,
    create: (opts) => {
      given = opts;
      return { start: () => {}, close: () => Promise.resolve(), assignments: () => assignments, shardCount: () => shardCount, connected: () => true, waitForHandoff: () => Promise.resolve(true) };
    },
    options: () => {
      if (!given) throw new Error('the node has not created its agent');
      return given;
    },
  };
}
