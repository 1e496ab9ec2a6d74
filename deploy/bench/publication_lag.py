#!/usr/bin/env python3
"""Publication lag: commands acknowledged by POST /v1/commands at a steady rate, and the time
until each is inside a checkpoint the witness quorum cosigned (GET /log/checkpoint).

Usage: publication_lag.py BASE_URL RATE SECONDS  (TOKEN: a manager token, DATABASE_URL: the
application role's URL, to map positions to leaf indexes once everything is sealed).
The commands are sent by several processes of threads (one process is bound by its GIL),
each command at its own slot of a fixed schedule. Prints one line of key=value figures.
"""
import bisect
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import urllib.parse

base, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
token, database_url = os.environ["TOKEN"], os.environ["DATABASE_URL"]
url = urllib.parse.urlparse(base)
prefix = f"L-{int(time.time())}"
PROCESSES, THREADS = 4, 16


def connection():
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def poll(cosigned, stop):
    """Records when each new cosigned tree size is first seen at /log/checkpoint."""
    conn = connection()
    last = -1
    while not stop.is_set():
        try:
            conn.request("GET", "/log/checkpoint")
            answer = conn.getresponse()
            body = answer.read().decode()
            if answer.status == 200:
                size = int(body.split("\n")[1])
                if size > last:
                    cosigned.append((time.time(), size))
                    last = size
        except (OSError, http.client.HTTPException, ValueError, IndexError):
            conn = connection()
        time.sleep(0.05)


def post(worker, workers, start, acknowledged, refused):
    conn = connection()
    n = 0
    while True:
        slot = worker + n * workers  # the slot-th command of the run
        due = start + slot / rate
        if due - start >= seconds:
            return
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        oid = f"{prefix}-{slot}"
        body = json.dumps({
            "command": "registerOrganisation", "commandId": oid, "organisationId": oid,
            "name": f"Lag group {slot}", "country": "KZ", "regionCode": "KZ-43", "settlement": "rural",
            "registrationStatus": "unregistered", "leadershipGender": "women", "kind": "informalGroup"})
        try:
            conn.request("POST", "/v1/commands", body, {
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            answer = conn.getresponse()
            text = answer.read()
            if answer.status in (200, 201):
                acknowledged.append((time.time(), json.loads(text)["events"][0]["position"]))
            else:
                refused[0] += 1
        except (OSError, http.client.HTTPException):
            conn = connection()
            refused[0] += 1
        n += 1


def sender(process, start):
    acknowledged, refused = [], [0]
    workers = PROCESSES * THREADS
    threads = [
        threading.Thread(target=post, args=(process + t * PROCESSES, workers, start, acknowledged, refused))
        for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acknowledged, refused[0]


def positions():
    out = subprocess.run(
        ["psql", "-X", "-A", "-t", database_url, "-c", "SELECT position FROM chain_hashes(0, (SELECT position FROM chain_head())) ORDER BY position"],
        check=True, capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def main():
    acknowledged, refused = [], 0
    cosigned, stop = [], threading.Event()
    start = time.time() + 1.0
    with multiprocessing.Pool(PROCESSES) as pool:
        results = [pool.apply_async(sender, (p, start)) for p in range(PROCESSES)]
        poller = threading.Thread(target=poll, args=(cosigned, stop), daemon=True)
        poller.start()
        for result in results:
            acked, failed = result.get()
            acknowledged.extend(acked)
            refused += failed
    elapsed = time.time() - start
    # Wait until the last acknowledged command is cosigned (at most two minutes), then stop.
    highest = max((p for _, p in acknowledged), default=0)
    deadline = time.time() + 120
    sealed = positions()
    while time.time() < deadline:
        sealed = positions()
        if sealed and sealed[-1] >= highest and cosigned and cosigned[-1][1] >= bisect.bisect_right(sealed, highest):
            break
        time.sleep(0.5)
    stop.set()
    lags, missing = [], 0
    sizes = [size for _, size in cosigned]
    for ack, position in acknowledged:
        leaf = bisect.bisect_left(sealed, position)  # the leaf index: sealed events before it
        at = bisect.bisect_right(sizes, leaf)  # the first cosigned checkpoint with size > leaf
        if at == len(sizes):
            missing += 1
            continue
        lags.append(max(0.0, cosigned[at][0] - ack))
    lags.sort()

    def pct(p):
        return f"{lags[min(len(lags) - 1, int(p * len(lags)))] * 1000:.0f}" if lags else "-"

    during = [t for t, _ in cosigned if start <= t <= start + elapsed]
    gaps = [b - a for a, b in zip(during, during[1:])]
    print(
        f"acknowledged={len(acknowledged)} refused={refused} rate={len(acknowledged) / elapsed:.0f}/s "
        f"cosigned_checkpoints={len(during)} longest_gap_s={max(gaps) if gaps else 0:.1f} "
        f"lag_p50_ms={pct(0.50)} lag_p99_ms={pct(0.99)} lag_max_ms={pct(1.0)} never_cosigned={missing}")


if __name__ == "__main__":
    main()
