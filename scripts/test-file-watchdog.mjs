// Loaded into every test file's process by scripts/test.sh (node --import): a test file still
// running after KEYWAY_TEST_FILE_TIMEOUT_MS (default 10 minutes; the slowest file takes about 2)
// prints what its process still holds and exits 1, so one stuck file fails the run with a reason
// instead of holding CI until its 90-minute limit. Only in node:test's per-file child processes
// (NODE_TEST_CONTEXT set), never in the runner itself. The timer is unref'd: it never keeps a
// finished process alive.
import process from 'node:process';
import { setTimeout } from 'node:timers';

if (process.env.NODE_TEST_CONTEXT) {
  const limitMs = Number(process.env.KEYWAY_TEST_FILE_TIMEOUT_MS ?? 600_000);
  const file = process.argv[1] ?? '(unknown file)';
  setTimeout(() => {
    const handles = process._getActiveHandles().map((h) => h?.constructor?.name ?? typeof h);
    // getActiveResourcesInfo also lists ref'd timers ("Timeout"), which _getActiveHandles omits.
    process.stderr.write(
      `test-file-watchdog: ${file} still running after ${limitMs} ms; active handles: ${JSON.stringify(handles)}, ` +
        `active resources: ${JSON.stringify(process.getActiveResourcesInfo())}, ` +
        `active requests: ${process._getActiveRequests().length}; exiting 1\n`,
    );
    process.exit(1);
  }, limitMs).unref();
}
