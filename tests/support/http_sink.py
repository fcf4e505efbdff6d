#!/usr/bin/env python3
"""A loopback HTTP receiver for delivery tests (webhooks).

    http_sink.py --port-file PATH --out PATH [--fail-first N] [--fail-status CODE]
                 [--hang-first N] [--hang-seconds S]

Listens on 127.0.0.1 on a free port and writes the port to --port-file (atomically, once it
accepts connections). Every request is appended to --out as one JSON line:
{"time": unix seconds, "method", "path", "headers": {lower-case name: value}, "body",
"status": the status answered}. The first N requests (--fail-first) are answered with
--fail-status (default 503); with --hang-first the first N requests wait S seconds before
their answer (to catch a sender mid-request). Standard library only. Stops on SIGTERM or
SIGINT, and when the process that started it goes away.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--hang-first", type=int, default=0)
    ap.add_argument("--hang-seconds", type=float, default=30.0)
    args = ap.parse_args()

    lock = threading.Lock()
    seen = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet
            pass

        def _handle(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            with lock:
                seen[0] += 1
                number = seen[0]
            if number <= args.hang_first:
                time.sleep(args.hang_seconds)
            status = args.fail_status if number <= args.fail_first else 200
            record = {
                "time": time.time(),
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "status": status,
            }
            with lock, open(args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            reply = b"ok\n" if status == 200 else b"temporarily unavailable\n"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the sender gave up (stopped, killed): that is what some tests do

        do_POST = _handle
        do_PUT = _handle
        do_GET = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)

    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
