/**
 * `keyway/agent` (docs/ownership.md "The agent library"): the library a cache node runs to learn
 * which shards it serves, warms and drains from every keyway replica over the ownership stream,
 * pre-warm the shards it gains and report them warm, and wait for its shards to be handed off
 * before it exits. Nothing in keyway imports it.
 */
export { OwnershipAgent, DEFAULT_AGENT_TIMING, type OwnershipAgentOptions, type AgentTiming } from './agent.js';
export type { Assignment, AssignmentPhase, AssignmentRole, Peer } from './assignment.js';
export type { ResolveHost } from './replica-names.js';
