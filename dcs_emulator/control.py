"""``/_emulator/...``: out-of-process control of the emulator (not part of DCS)."""

from __future__ import annotations

import json
from collections.abc import Callable

from werkzeug.wrappers import Request

from .app import Reply, detail, json_reply
from .faults import Faults
from .stats import Stats


class Control:
    """GET stats, GET/POST faults, POST reset, POST expire-tokens.

    ``faults`` may set ``hang_all`` and ``store_blocks_loop``: these endpoints
    never hang or stall, so they can always clear them.
    """

    def __init__(
        self,
        faults: Faults,
        stats: Stats,
        reset: Callable[[], None],
        expire_tokens: Callable[[], None],
        store_stats: Stats | None = None,
    ) -> None:
        self.faults = faults
        self.stats = stats
        self.reset = reset
        self.expire_tokens = expire_tokens
        self.store_stats = store_stats

    def __call__(self, request: Request) -> Reply:
        action = request.path.removeprefix("/_emulator/")
        method = request.method
        if action == "stats" and method == "GET":
            snapshot = self.stats.snapshot()
            if self.store_stats is not None:  # the presigned URLs' gateway: counters only
                snapshot["store"] = self.store_stats.snapshot(last=0)
            return json_reply(200, snapshot)
        if action == "faults" and method == "GET":
            return json_reply(200, self.faults.as_dict())
        if action == "faults" and method == "POST":
            return self._set_faults(request)
        if action == "reset" and method == "POST":
            self.reset()
            return json_reply(200, {"status": "ok"})
        if action == "expire-tokens" and method == "POST":
            self.expire_tokens()
            return json_reply(200, {"status": "ok"})
        return detail(404, "Not Found")

    def _set_faults(self, request: Request) -> Reply:
        try:
            values = json.loads(request.get_data() or b"{}")
        except ValueError:
            return detail(400, "body must be a JSON object")
        if not isinstance(values, dict):
            return detail(400, "body must be a JSON object")
        try:
            self.faults.update(values)
        except ValueError as exc:
            return detail(400, str(exc))
        return json_reply(200, self.faults.as_dict())
