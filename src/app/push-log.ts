/**
 * The log line of one xDS push (docs/observability.md "Logs"): which proxy classes changed. It
 * listed every served class, unchanged ones too, so its size grew with the fleet: an agent is a
 * class of its own (one per cache node), and 2000 nodes made a line of about 120 KB per map change.
 * It lists the classes that failed first, then those that changed, at most MAX_PUSH_LOG_CLASSES,
 * with the counts of all three.
 */
import type { RebuildReport } from '../xds/cache/index.js';

/** Classes one push line names at most; the counts cover the rest. */
export const MAX_PUSH_LOG_CLASSES = 16;

/** One class as the push line names it. */
export interface PushLogClass {
  readonly proxyClass: string;
  readonly changed: readonly string[];
  readonly error?: string;
}

/** The push line's level, fields and message. */
export interface PushLogLine {
  readonly level: 'info' | 'debug';
  readonly fields: {
    readonly classes: readonly PushLogClass[];
    readonly classCount: number;
    readonly changedClasses: number;
    readonly failedClasses: number;
    /** Changed or failed classes the line does not name (past MAX_PUSH_LOG_CLASSES). */
    readonly classesNotListed?: number;
    /** Streams' kinds moved to another class (a client's place merged or split), each told of its new class. */
    readonly rehomed?: number;
  };
  readonly msg: string;
}

/** What keyway logs for `report`: `info` when a class changed or failed or a stream moved class, else `debug`. */
export function pushLogLine(report: RebuildReport): PushLogLine {
  const failed = report.classes.filter((c) => c.error !== undefined);
  const changed = report.classes.filter((c) => c.error === undefined && c.changed.length > 0);
  const named = [...failed, ...changed];
  const classes = named.slice(0, MAX_PUSH_LOG_CLASSES).map((c) => ({ proxyClass: c.classKey, changed: c.changed, ...(c.error ? { error: c.error.message } : {}) }));
  const notListed = named.length - classes.length;
  const fields = {
    classes,
    classCount: report.classes.length,
    changedClasses: report.classes.filter((c) => c.changed.length > 0).length,
    failedClasses: failed.length,
    ...(notListed > 0 ? { classesNotListed: notListed } : {}),
    ...(report.rehomed > 0 ? { rehomed: report.rehomed } : {}),
  };
  return named.length > 0 || report.rehomed > 0 ? { level: 'info', fields, msg: 'xDS snapshots pushed' } : { level: 'debug', fields, msg: 'xDS snapshots unchanged' };
}
