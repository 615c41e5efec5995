"""gunicorn settings for the LMS: threaded workers, suited to long media streams.

A streaming response holds a thread for the whole play, so each worker runs
many threads (gthread); processes give CPU parallelism. Every value can be
overridden from the environment.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
# Streaming mode: a play holds a thread while the player reads, so threads must
# cover the concurrent players a process serves. Offload mode holds a thread only
# for the decision: 16-32 serve more requests per second (fewer threads fight
# over the GIL; see the README's Benchmarks).
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
# gthread workers heartbeat from their main thread, so a long stream does not
# trip this timeout; it only catches a worker that is truly stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 25.1+ opens ~/.gunicorn/gunicorn.ctl by default: several instances on
# one host (or one CI machine) would take it from each other.
control_socket_disable = True
