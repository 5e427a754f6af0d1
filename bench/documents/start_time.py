#!/usr/bin/env python3
"""Start to first answer of nimbus-docs-server on an existing data directory.

Each round: spawn the server on a fixed free loopback port, then connect and send `GET /`
(signed requests are not needed: an answer, even 401, means the server is serving) every
millisecond until an HTTP status line comes back; the time from spawn to that line is the
figure. The server is then stopped with SIGTERM and waited for (its data directory is locked
while it runs). Bounded: 10 s per round.
  start_time.py SERVER_BIN DATA_DIR [ROUNDS]
Prints per-round milliseconds and one "result: {json}" line.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = s.recv(64)
                if data.startswith(b"HTTP/1.1 "):
                    return data.split(b"\r\n", 1)[0].decode()
        except OSError:
            time.sleep(0.001)
    return None


def main():
    binary, data = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    times, status, error = [], None, None
    for _ in range(rounds):
        port = free_port()
        t0 = time.monotonic()
        proc = subprocess.Popen([binary, "--port", str(port), "--data", data, "--log-level", "Warning"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        status = first_answer(port, t0 + 10)
        elapsed = (time.monotonic() - t0) * 1000
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if status is None:
            error = "no answer within 10 s: " + err.decode(errors="replace")[-300:]
            break
        times.append(elapsed)
        print(f"start to first answer: {elapsed:.1f} ms ({status})", flush=True)
    out = {"step": "start_to_first_answer", "rounds": len(times), "data": data,
           "data_bytes": sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)),
           "median_ms": statistics.median(times) if times else None,
           "min_ms": min(times) if times else None, "max_ms": max(times) if times else None,
           "status": status, "error": error}
    print("result: " + json.dumps(out))
    return 0 if times else 1


if __name__ == "__main__":
    sys.exit(main())
