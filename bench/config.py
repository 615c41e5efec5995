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
RPS_CLIENTS = 32  # figure 6: per row, on each database
RPS_SECONDS = 4.0
RPS_ROUNDS = 2
DEFAULTS_SECONDS = 4.0  # figure 7: per row
THREAD_SWEEP = (16, 32, 64, 128)  # figure 7: gunicorn threads per process, offload mode
THREAD_SWEEP_CLIENTS = 128

RSS_TARGET_MIB = 16
# Figure 6's targets: requests per second as a share of the plain view's, same server.
PLAIN_TARGETS = {"offloaded": 0.30, "streamed": 0.20, "me": 0.45}
WATCHDOG_SECONDS = 900

MB = 1e6
MiB = 1024 * 1024
