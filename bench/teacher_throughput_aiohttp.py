#!/usr/bin/python3
"""The teacher throughput workload sent by a Python asyncio client (aiohttp).

Usage: /usr/bin/python3 bench/teacher_throughput_aiohttp.py --url URL --body FILE
           [--requests N] [--concurrency C] [--latency-ms L] [--max-retries R]

Run with Debian's /usr/bin/python3 (python3-aiohttp), not another python on PATH.
POSTs the bytes of FILE (one JSON request body, e.g. written by
`teacher_throughput --body-out FILE`) N times to URL/chat/completions: one
ClientSession over a TCPConnector(limit=C), all N tasks created at once and
gated by a semaphore of C, each reading and parsing the JSON reply like the C++
client does. A request that fails with 408/409/429/5xx or a connection error is
retried like HttpClient does (up to R times, full-jitter backoff starting at 1 s,
capped at 60 s); timeouts are the C++ defaults (connect 10 s, whole reply 120 s).
No warm-up: connections are opened inside the timed part, as on the C++ side.

Prints one JSON object with the same fields as teacher_throughput: wall_s,
requests_per_s, ideal_requests_per_s = C / (L / 1000), ratio, wave_ceiling,
failures, retries, and latency_ms_per_request (p50/p99/max): from the moment
it holds the semaphore until its reply is parsed (retries included).
"""

import argparse
import asyncio
import json
import math
import random
import sys
import time

import aiohttp

RETRYABLE = {408, 409, 429}


def percentile(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    i = int(q * (len(v) - 1) + 0.5)
    return v[min(i, len(v) - 1)]


async def one_request(session, sem, url, body, max_retries, stats):
    async with sem:
        start = time.perf_counter()
        attempt = 0
        while True:
            error = None
            try:
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    payload = await response.read()
                    if 200 <= response.status < 300:
                        json.loads(payload)
                        stats["latency_ms"].append((time.perf_counter() - start) * 1000)
                        return
                    error = f"HTTP {response.status}"
                    if response.status not in RETRYABLE and response.status < 500:
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                error = f"{type(e).__name__}: {e}"
            if attempt >= max_retries:
                break
            attempt += 1
            stats["retries"] += 1
            await asyncio.sleep(random.uniform(0, min(60.0, 2.0 ** (attempt - 1))))
        stats["failures"] += 1
        stats.setdefault("first_error", error)


async def run(args, body):
    url = args.url.rstrip("/") + "/chat/completions"
    stats = {"failures": 0, "retries": 0, "latency_ms": []}
    sem = asyncio.Semaphore(args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120, connect=10)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                one_request(session, sem, url, body, args.max_retries, stats)
                for _ in range(args.requests)
            )
        )
        wall = time.perf_counter() - start
    return wall, stats


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--body", required=True, help="file holding the JSON request body")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency-ms", type=int, default=200, help="server latency, for the ideal")
    p.add_argument("--max-retries", type=int, default=6)
    args = p.parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.latency_ms < 1:
        p.error("--requests, --concurrency and --latency-ms must be positive")
    with open(args.body, "rb") as f:
        body = f.read().rstrip(b"\r\n")
    json.loads(body)  # fail early on a bad file

    wall, stats = asyncio.run(run(args, body))
    achieved = args.requests / wall
    ideal = args.concurrency / (args.latency_ms / 1000)
    waves = math.ceil(args.requests / args.concurrency)
    lat = stats["latency_ms"]
    report = {
        "client": f"Python aiohttp {aiohttp.__version__}",
        "python": sys.version.split()[0],
        "url": args.url,
        "body_bytes": len(body),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "wall_s": wall,
        "requests_per_s": achieved,
        "ideal_requests_per_s": ideal,
        "ratio": achieved / ideal,
        "wave_ceiling": args.requests / (waves * args.concurrency),
        "failures": stats["failures"],
        "retries": stats["retries"],
        "latency_ms_per_request": {
            "p50": percentile(lat, 0.50),
            "p99": percentile(lat, 0.99),
            "max": percentile(lat, 1.0),
        },
    }
    if "first_error" in stats:
        report["first_error"] = stats["first_error"]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
