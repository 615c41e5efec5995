"""The benchmark's numbers: servers, repetitions, durations and targets, in one place."""

import os

# 2 gthread workers x 128 threads (enough for 200 streaming clients) unless the
# environment says otherwise: `GUNICORN_THREADS=32 make bench` compares a setting.
WORKERS = int(os.environ.get("GUNICORN_WORKERS") or 2)
THREADS = int(os.environ.get("GUNICORN_THREADS") or 128)
CHUNK_SIZES = {"64 KiB": 64 * 1024, "256 KiB": 256 * 1024, "1 MiB": 1024 * 1024}

THROUGHPUT_TRIES = 3  # figure 1: best of this many rounds
SEEK_REQUESTS = 300  # figure 2: per path ...
SEEK_ROUNDS = 3  # ... in this many interleaved rounds
UPSTREAM_WARMUP_ROUNDS = 10  # figure 3: rounds of the request shapes not counted ...
UPSTREAM_ROUNDS = 20  # ... and counted
LOAD_CLIENTS = 200  # figure 5
LOAD_SECONDS = 15.0
LOAD_FULL_EVERY = 10  # every n-th operation of a load client plays the whole file
RPS_CLIENTS = 32  # figure 6
RPS_SECONDS = 10.0
RPS_ROUNDS = 2

RSS_TARGET_MIB = 16
RPS_TARGET = 0.8
WATCHDOG_SECONDS = 600

MB = 1e6
MiB = 1024 * 1024
