"""gunicorn settings for the LMS: event-loop workers, suited to long media streams.

A media stream lasts as long as its player reads, and a paused player can hold
one for minutes. Under gevent (the default) each connection is a greenlet
(about 0.3 MB with the chunk it is sending), so a process holds thousands of
paused or slow players and pages stay fast; requests (the DCS client),
redis-py and psycopg 3 cooperate with gevent's monkeypatching. Under gthread
(GUNICORN_WORKER_CLASS=gthread) a stream holds one of a process's threads for
its lifetime. Processes give CPU parallelism. Every value can be overridden
from the environment.
"""

import logging
import multiprocessing
import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
# gthread, streaming mode: a play holds a thread while the player reads, so threads must
# cover the concurrent players a process serves (64). Offload mode holds a thread
# only for the decision: fewer threads fight less over the GIL and serve more
# requests per second (32; docs/benchmarks.md, figure 7).
_offload = os.environ.get("MEDIA_NGINX_OFFLOAD", "").strip().lower() in ("1", "true", "yes", "on")
threads = int(os.environ.get("GUNICORN_THREADS") or (32 if _offload else 64))
# Workers heartbeat from their main thread (gthread) or event loop (gevent), so a
# long stream does not trip this timeout; it only catches a worker that is truly stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# gevent: the connections (greenlets) one process serves at once, paused players
# included; past it, new connections wait in the listen backlog. gthread: the
# keep-alive connections it parks.
worker_connections = int(
    os.environ.get("GUNICORN_WORKER_CONNECTIONS") or (2000 if worker_class == "gevent" else 1000)
)
if worker_class == "gevent":
    # Django keeps a database connection per greenlet, i.e. per open client
    # connection: on PostgreSQL use a pool per process instead (lms/settings.py,
    # DATABASE_POOL_SIZE). The bulkhead's share is of connections, not threads;
    # the DCS pool keeps as many idle connections as there can be streams.
    os.environ.setdefault("DATABASE_POOL_SIZE", "20")
    os.environ.setdefault("MEDIA_MAX_CONCURRENT", str(worker_connections * 3 // 4))
    os.environ.setdefault("DCS_POOL_SIZE", str(worker_connections))
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


class _SendTimeoutIsNotAnError(logging.Filter):
    """A player that accepted no bytes for MEDIA_SEND_TIMEOUT is cut by a socket
    timeout (media_proxy.streams.prepare_to_stream), which gunicorn logs as a socket
    error with a traceback; the LMS's media_stream line already records it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, TimeoutError) and record.msg.startswith("Socket error"))


logging.getLogger("gunicorn.error").addFilter(_SendTimeoutIsNotAnError())
