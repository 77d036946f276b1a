/**
 * The order of the grpc-scale runs: per S, the stock client and the picker side by side, the one
 * that goes first alternating from one S to the next (kept apart from run.ts to be unit-tested).
 * Before, every stock run came first and every picker run after, minutes later on a shared machine.
 */
export type Mode = 'stock' | 'picker';

/** [mode, S] in run order: the picker at every stock S and at `pickerShards`, the stock client at `stockShards`. */
export function runPlan(stockShards: readonly number[], pickerShards: number): [Mode, number][] {
  const all = [...new Set([...stockShards, pickerShards])].sort((a, b) => a - b);
  // Counted over the S both run at: a picker-only S in between would keep the same one first.
  let both = 0;
  return all.flatMap((s): [Mode, number][] => {
    const modes: Mode[] = stockShards.includes(s) ? (both++ % 2 === 0 ? ['stock', 'picker'] : ['picker', 'stock']) : ['picker'];
    return modes.map((m) => [m, s]);
  });
}
