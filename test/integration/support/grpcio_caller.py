"""A stock python grpcio (C-core) xDS client for the make-before-break tests (docs/xds.md
"Make-before-break for stock gRPC clients"): it dials an xds:/// target (bootstrap from
GRPC_XDS_BOOTSTRAP_CONFIG) and calls /keyway.test.Cache/Who without pause on every shard from
several threads, half wait-for-ready, half fail-fast, each call carrying x-cache-shard.
Commands on stdin, one a line: "reset" zeroes the counters, "report" prints
{"ok": n, "failed": n, "errors": {...}, "byNode": {...}}. Usage: grpcio_caller.py TARGET SHARDS WORKERS
"""
import json
import sys
import threading
import time

import grpc

METHOD = "/keyway.test.Cache/Who"


def main() -> None:
    target, shards, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    channel = grpc.insecure_channel(target)
    who = channel.unary_unary(METHOD)  # no serializers: the test's servers answer raw bytes
    lock = threading.Lock()
    state = {"ok": 0, "failed": 0, "errors": {}, "byNode": {}}

    def reset() -> None:
        with lock:
            state.update(ok=0, failed=0, errors={}, byNode={})

    def work(w: int) -> None:
        i = w
        while True:
            shard = i % shards
            i += 1
            try:
                reply = who(b"", metadata=(("x-cache-shard", str(shard)),), timeout=5, wait_for_ready=(w % 2 == 0))
                with lock:
                    state["ok"] += 1
                    node = reply.decode()
                    state["byNode"][node] = state["byNode"].get(node, 0) + 1
            except grpc.RpcError as err:
                message = f"{err.code().name}: {err.details()}"
                with lock:
                    state["failed"] += 1
                    state["errors"][message] = state["errors"].get(message, 0) + 1
                time.sleep(0.01)

    for w in range(workers):
        threading.Thread(target=work, args=(w,), daemon=True).start()
    for line in sys.stdin:
        command = line.strip()
        if command == "reset":
            reset()
            print("{}", flush=True)
        elif command == "report":
            with lock:
                print(json.dumps(state), flush=True)


if __name__ == "__main__":
    main()
