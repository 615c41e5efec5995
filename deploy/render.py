"""Fill a deploy template's ${NAME} values (upper case only; nginx's own $vars stay).

    python deploy/render.py deploy/nginx/lms.conf.template LISTEN=80 SERVER_NAME=lms.example.org ...

The same as `envsubst '${LISTEN} ${SERVER_NAME} ...'`; a missing value is an error.
"""

import re
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: str, values: dict[str, str]) -> str:
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match[1]], template)


if __name__ == "__main__":
    path, *pairs = sys.argv[1:]
    sys.stdout.write(render(Path(path).read_text(), dict(pair.split("=", 1) for pair in pairs)))
