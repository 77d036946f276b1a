/**
 * On-CPU time of processes from Linux's scheduler statistics: the first field of
 * `/proc/<pid>/task/<tid>/schedstat` is the nanoseconds a thread ran, summed over every thread of
 * the process (Envoy's workers, main thread, its health-check timers). Nanosecond resolution, where
 * `/proc/<pid>/stat`'s utime+stime ticks at 10 ms.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** ms the process `pid` (all its threads) has run so far; 0 once it is gone. */
export function cpuMs(pid: number): number {
  let ns = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e6;
}

/** CPU ms of each pid, summed. */
export function cpuMsOf(pids: readonly number[]): number {
  return pids.reduce((a, p) => a + cpuMs(p), 0);
}
