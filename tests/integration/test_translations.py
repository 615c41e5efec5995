"""The Turkish catalog: complete for every message of the pages, the admin and the API, and
compiled (the committed .mo is the committed .po; the LMS needs no gettext to run)."""

import gettext
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, require_tool

pytestmark = pytest.mark.tools

PO = ROOT / "locale" / "tr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
#: msgids of Django's own catalogs that the admin templates pass through (Django translates)
DJANGO_OWN = {"Django site admin", "Django administration"}
SOURCES = ["books", "media_proxy", "templates", "lms", "locale", "manage.py"]


def _unquote(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def po_entries(text: str) -> dict[str, list[str]]:
    """msgid → its msgstr(s), from a .po written with --no-wrap."""
    entries = {}
    pattern = re.compile(
        r'^msgid "((?:[^"\\]|\\.)*)"\n(?:msgid_plural "(?:[^"\\]|\\.)*"\n)?'
        r'((?:msgstr(?:\[\d\])? "(?:[^"\\]|\\.)*"\n)+)',
        re.M,
    )
    for match in pattern.finditer(text):
        strings = re.findall(r'msgstr(?:\[\d\])? "((?:[^"\\]|\\.)*)"', match[2])
        entries[_unquote(match[1])] = [_unquote(s) for s in strings]
    return entries


def test_the_compiled_catalog_is_the_committed_one():
    entries = po_entries(PO.read_text("utf-8"))
    with MO.open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog
    for msgid, strings in entries.items():
        if not msgid or not any(strings):
            continue
        if len(strings) == 1:
            assert catalog.get(msgid) == strings[0], msgid
        else:
            assert [catalog.get((msgid, i)) for i in range(len(strings))] == strings, msgid


def test_every_message_has_a_turkish_translation(tmp_path):
    """makemessages over a copy of the sources: no message is new, empty or fuzzy."""
    require_tool("xgettext")
    require_tool("msgmerge")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("demo_media"))
        else:
            shutil.copy2(source, tmp_path / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "tr", "--no-wrap", "--no-location"],
        cwd=tmp_path,
        env={"DEBUG": "true", "PATH": "/usr/bin:/bin:/usr/local/bin", "PYTHONPATH": str(tmp_path)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = (tmp_path / "locale" / "tr" / "LC_MESSAGES" / "django.po").read_text("utf-8")
    assert "#, fuzzy\nmsgid" not in text.split("msgid", 2)[2], "fuzzy entries"
    entries = po_entries(text)
    missing = [
        m for m, strings in entries.items() if m and m not in DJANGO_OWN and not all(strings)
    ]
    assert not missing, f"messages without a Turkish translation: {missing}"
    assert set(entries) == set(po_entries(PO.read_text("utf-8"))), (
        "run makemessages (docs/pages.md)"
    )
