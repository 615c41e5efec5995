"""The benchmark's numbers: servers, repetitions, durations and targets, in one place."""

import os

from media_proxy import timeouts

# 2 workers of the shipped class (gevent; GUNICORN_WORKER_CLASS=gthread make bench
# measures the threaded one, with THREADS threads: enough for 200 streaming clients).
WORKERS = int(os.environ.get("GUNICORN_WORKERS") or 2)
THREADS = int(os.environ.get("GUNICORN_THREADS") or 128)
WORKER_CLASS = os.environ.get("GUNICORN_WORKER_CLASS") or "gevent"
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
# figure 7: the serving models, as each would ship (gthread: its threads per mode)
SERVING_MODELS = {"gevent": None, "gthread": {"offloaded": 32, "streamed": 64}}
SERVING_MODEL_CLIENTS = 128

RSS_TARGET_MIB = 16
# Figure 6's targets: requests per second as a share of the plain view's, same server.
PLAIN_TARGETS = {"offloaded": 0.30, "streamed": 0.20, "me": 0.45}
# The plain view (/ping: every middleware, no database, no cache) on the streaming LMS.
PLAIN_VIEW = "plain view /ping (django)"
WATCHDOG_SECONDS = 900

# Figure 8 (issue 10), per mode: paused and slow players held while pages are probed ...
ISOLATION_PAUSED = 2000  # players that read their status line, then nothing
ISOLATION_SLOW = 200  # players that read at ISOLATION_SLOW_RATE
ISOLATION_SLOW_RATE = 32 * 1024  # bytes per second
ISOLATION_BATCH = 100  # paused players opened at once ...
ISOLATION_BATCH_PAUSE = 0.3  # ... every this many seconds
ISOLATION_RCVBUF = 16 * 1024  # a paused player's SO_RCVBUF
ISOLATION_MSS = 1448  # every player's TCP_MAXSEG (loopback's MSS is 64 KiB)
# SO_SNDBUF of figure 8's own reference nginx (DCS's stand-in): autotuned, it holds up
# to 4 MiB per paused stream, DCS's memory, which a remote DCS does not take from the
# LMS's machine (with 2,000 streams it took this machine to its tcp_mem limit).
ISOLATION_DCS_SEND_BUFFER = 16 * 1024
ISOLATION_SEND_TIMEOUT = 300  # MEDIA_SEND_TIMEOUT: no paused player is cut during a run
# Once every player is in, the probes wait until the LMS and DCS's stand-in use less than
# this many CPU seconds a second (offload's nginx fills 2 MiB of buffers per paused
# player), at most ISOLATION_SETTLE_CAP seconds: nginx cuts a player that took nothing
# for 60 s (MEDIA_SEND_TIMEOUT as the template is rendered), and the probes must end first.
ISOLATION_SETTLED_CPU = 0.25
ISOLATION_SETTLE_CAP = 15.0
ISOLATION_PROBE_SECONDS = 15.0
ISOLATION_PROBE_RATE = 10.0  # login and seek probes per second, each
ISOLATION_PROBE_TIMEOUT = 5.0
ISOLATION_SEEK = (1_000_000, 1_000_999)  # the seek probe's range of the 256 MiB file
# ... then DCS hung: media requests per second, and how long DCS stays hung after the
# first 503 (the breaker open) before the hang is cleared.
ISOLATION_HUNG_RATE = 20.0
ISOLATION_HUNG_RANGE = (0, 1023)  # of the 300 KiB file: a seek, a small answer once cleared
ISOLATION_OPEN_SECONDS = 5.0
# The LMS's DCS_READ_TIMEOUT and DCS_BREAKER_RESET: the environment's (passed through to
# the LMS) or the shipped defaults (media_proxy/timeouts.py; lms/settings.py).
READ_TIMEOUT = float(os.environ.get("DCS_READ_TIMEOUT") or timeouts.DCS_READ_TIMEOUT)
BREAKER_RESET = float(os.environ.get("DCS_BREAKER_RESET") or 10.0)
# Figure 8's targets, seconds.
ISOLATION_TARGETS = {
    "login p99": 0.250,  # during paused + slow players, and while DCS hangs
    "seek p99": 0.500,  # during paused + slow players
    "open p99": 0.050,  # a media answer once the breaker is open
    "hung slowest": READ_TIMEOUT + 1,  # every media answer while DCS hangs
    "recovery": BREAKER_RESET + 2,  # from clearing the hang to the first success
}

MB = 1e6
MiB = 1024 * 1024
