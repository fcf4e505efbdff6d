#!/usr/bin/env python3
"""A loopback SMTP receiver for delivery tests (RFC 5321, just enough for libcurl).

    smtp_sink.py --port-file PATH --out PATH [--fail-first N] [--reject-rcpt ADDR]...

Listens on 127.0.0.1 on a free port and writes the port to --port-file (atomically, once it
accepts connections). Every mail transaction that reaches the end of DATA is appended to
--out as one JSON line: {"time": unix seconds, "mail_from", "rcpt": [...], "data": the
message as received, dot-unstuffed, CRLF kept, "status": the reply code}. The first N
transactions (--fail-first) are answered 451 (try again later) after DATA; RCPT of an
address given with --reject-rcpt is answered 550 (no such mailbox). No STARTTLS, no AUTH.
Standard library only. Stops on SIGTERM or SIGINT, and when its parent goes away.
"""
import argparse
import json
import os
import signal
import socketserver
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--reject-rcpt", action="append", default=[])
    args = ap.parse_args()

    lock = threading.Lock()
    seen = [0]

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write((line + "\r\n").encode("ascii"))
            self.wfile.flush()

        def handle(self):
            self.reply("220 smtp-sink.test ESMTP ready")
            mail_from, rcpt = None, []
            while True:
                raw = self.rfile.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    if verb == "EHLO":
                        self.reply("250-smtp-sink.test")
                        self.reply("250-8BITMIME")
                        self.reply("250 SIZE 10485760")
                    else:
                        self.reply("250 smtp-sink.test")
                elif line.upper().startswith("MAIL FROM:"):
                    mail_from, rcpt = line[10:].strip().split(" ")[0].strip("<>"), []
                    self.reply("250 2.1.0 ok")
                elif line.upper().startswith("RCPT TO:"):
                    addr = line[8:].strip().split(" ")[0].strip("<>")
                    if addr in args.reject_rcpt:
                        self.reply("550 5.1.1 no such mailbox")
                    else:
                        rcpt.append(addr)
                        self.reply("250 2.1.5 ok")
                elif verb == "DATA":
                    if mail_from is None or not rcpt:
                        self.reply("503 5.5.1 need MAIL and RCPT first")
                        continue
                    self.reply("354 end data with <CR><LF>.<CR><LF>")
                    chunks = []
                    while True:
                        d = self.rfile.readline()
                        if not d:
                            return
                        if d in (b".\r\n", b".\n"):
                            break
                        if d.startswith(b".."):
                            d = d[1:]
                        chunks.append(d)
                    with lock:
                        seen[0] += 1
                        number = seen[0]
                    status = 451 if number <= args.fail_first else 250
                    record = {
                        "time": time.time(),
                        "mail_from": mail_from,
                        "rcpt": rcpt,
                        "data": b"".join(chunks).decode("utf-8", "replace"),
                        "status": status,
                    }
                    with lock, open(args.out, "a", encoding="utf-8") as f:
                        f.write(json.dumps(record, ensure_ascii=False) + "\n")
                    if status == 250:
                        self.reply("250 2.0.0 queued as %d" % number)
                    else:
                        self.reply("451 4.3.0 try again later")
                    mail_from, rcpt = None, []
                elif verb == "RSET":
                    mail_from, rcpt = None, []
                    self.reply("250 2.0.0 ok")
                elif verb == "NOOP":
                    self.reply("250 2.0.0 ok")
                elif verb == "QUIT":
                    self.reply("221 2.0.0 bye")
                    return
                else:
                    self.reply("502 5.5.2 command not implemented")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
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
