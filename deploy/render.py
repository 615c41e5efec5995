"""Fill a deploy template's ${NAME} values (upper case only; nginx's own $vars stay).

    python deploy/render.py deploy/nginx/lms.conf.template LISTEN=80 SERVER_NAME=lms.example.org ...

The same as `envsubst '${LISTEN} ${SERVER_NAME} ...'`; a missing value is an error.
Values the LMS itself decides (its time limits) have defaults taken from its
code, so the template never holds a copy that could drift.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media_proxy import timeouts

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
DEFAULTS = {
    "MEDIA_OFFLOAD_SECRET": "",  # streaming mode needs none
    # The LMS's own time limits, unless given (the same names as its settings).
    "DCS_CONNECT_TIMEOUT": str(timeouts.DCS_CONNECT_TIMEOUT),
    "DCS_READ_TIMEOUT": str(timeouts.DCS_READ_TIMEOUT),
    "MEDIA_SEND_TIMEOUT": str(timeouts.MEDIA_SEND_TIMEOUT),
    # No object store for presigned reads unless given (nothing listens on port 9).
    "STORE_ADDRESS": "127.0.0.1:9",
    "STORE_SCHEME": "http",
    "STORE_HOST": "object-store.invalid",
}


def render(template: str, values: dict[str, str]) -> str:
    values = {**DEFAULTS, **values}
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match[1]], template)


if __name__ == "__main__":
    path, *pairs = sys.argv[1:]
    sys.stdout.write(render(Path(path).read_text(), dict(pair.split("=", 1) for pair in pairs)))
