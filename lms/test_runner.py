"""`python manage.py test` runs the same pytest suite as `pytest`."""

import sys


class PytestTestRunner:
    def __init__(self, verbosity: int = 1, failfast: bool = False, keepdb: bool = False, **kwargs):
        self.verbosity = verbosity
        self.failfast = failfast
        self.keepdb = keepdb

    @classmethod
    def add_arguments(cls, parser) -> None:
        parser.add_argument("--keepdb", action="store_true", help="Reuse the test database.")

    def run_tests(self, test_labels: list[str], **kwargs) -> int:
        import pytest

        argv = list(test_labels)
        if self.verbosity == 0:
            argv.append("--quiet")
        elif self.verbosity >= 2:
            argv.append("--verbose")
        if self.failfast:
            argv.append("--exitfirst")
        if self.keepdb:
            argv.append("--reuse-db")
        sys.exit(pytest.main(argv))
