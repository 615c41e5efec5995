"""gunicorn settings for the LMS: threaded workers, suited to long media streams.

A streaming response holds a thread for the whole play, so each worker runs
many threads (gthread); processes give CPU parallelism. Every value can be
overridden from the environment.
"""

import multiprocessing
import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
# Streaming mode: a play holds a thread while the player reads, so threads must
# cover the concurrent players a process serves (64). Offload mode holds a thread
# only for the decision: fewer threads fight less over the GIL and serve more
# requests per second (32; docs/benchmarks.md, figure 7).
_offload = os.environ.get("MEDIA_NGINX_OFFLOAD", "").strip().lower() in ("1", "true", "yes", "on")
threads = int(os.environ.get("GUNICORN_THREADS") or (32 if _offload else 64))
# gthread workers heartbeat from their main thread, so a long stream does not
# trip this timeout; it only catches a worker that is truly stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# Off by default: nginx logs every request and the LMS logs one line per media
# response; gunicorn's line cost CPU on every request (docs/benchmarks.md, figure 7).
# GUNICORN_ACCESSLOG=- writes it to stdout.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 25.1+ opens ~/.gunicorn/gunicorn.ctl by default: several instances on
# one host (or one CI machine) would take it from each other.
control_socket_disable = True

# Prometheus multi-process mode (media_proxy/metrics.py): the workers write their
# samples to one folder, a new one for each start unless PROMETHEUS_MULTIPROC_DIR is
# given (then empty it before each start); a dead worker's live gauges are dropped.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lms-metrics-")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
