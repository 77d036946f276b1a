/**
 * A closed loop of calls for the failover tests: `inFlight` callers, each starting its next call
 * when its last one settles, so that many calls are in flight when a node dies (what sequential
 * calls cannot show: each in-flight call fails at once and needs its own retry).
 */
export interface ClosedLoop {
  /** Stops starting calls, waits for those in flight, and counts each answer `call` resolved with. */
  stop(): Promise<{ readonly sent: number; readonly answers: ReadonlyMap<string, number> }>;
}

/** Starts the loop; `call(n)` makes the n-th call (from 0) and resolves with its answer, a failure included. */
export function closedLoop(inFlight: number, call: (n: number) => Promise<string>): ClosedLoop {
  let running = true;
  let sent = 0;
  const answers = new Map<string, number>();
  const loops = Array.from({ length: inFlight }, async () => {
    while (running) {
      const answer = await call(sent++);
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { sent, answers };
    },
  };
}
