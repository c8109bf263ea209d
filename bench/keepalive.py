#!/usr/bin/env python3
"""Latency of consecutive requests on one kept-alive connection.

    keepalive.py HOST PORT PATH COUNT

Sends COUNT GETs of PATH one after the other on a single HTTP/1.1
connection and prints "bytes first_ms p50_ms max_ms over_20ms": the reply
size, the first request's latency, the median and worst of all of them,
and how many took over 20 ms. Every reply must be 200.
"""
import http.client
import statistics
import sys
import time


def main():
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    conn = http.client.HTTPConnection(host, port, timeout=10)
    times, size = [], 0
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
        times.append((time.perf_counter() - start) * 1000)
        if reply.status != 200:
            sys.exit(f"keepalive: {path} answered {reply.status}")
        size = len(body)
    conn.close()
    print(f"{size} {times[0]:.2f} {statistics.median(times):.2f} {max(times):.2f} "
          f"{sum(1 for t in times if t > 20)}")


if __name__ == "__main__":
    main()
