/**
 * LuaJIT, the Lua that Envoy embeds, run without Envoy to check keyway's Lua filter script
 * (scripts/install-luajit.sh installs it).
 */
import { spawnSync } from 'node:child_process';

/** Why a LuaJIT test is skipped (undefined when luajit runs); an error instead under KEYWAY_REQUIRE_E2E=1 (CI). */
export function luajitSkipReason(): string | undefined {
  const probe = spawnSync('luajit', ['-v'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const reason = 'luajit not found (run scripts/install-luajit.sh)';
  if (process.env.KEYWAY_REQUIRE_E2E === '1') throw new Error(`${reason}; KEYWAY_REQUIRE_E2E=1 requires it`);
  return reason;
}
