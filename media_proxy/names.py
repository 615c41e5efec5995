"""What a person reads for a file: its title from its name, the order of names, and the
language of a subtitle file (pure: no DCS)."""

from __future__ import annotations

import posixpath
import re
import unicodedata

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.utils.translation import get_language_info
from django.utils.translation import gettext_lazy as _

#: folder names that get a translated section title
FOLDER_TITLES = {
    "audio": _("Audio"),
    "audios": _("Audio"),
    "video": _("Video"),
    "videos": _("Video"),
    "images": _("Images"),
    "image": _("Images"),
    "subtitles": _("Subtitles"),
}


_DIGITS = re.compile(r"(\d+)")
_DOTLESS = str.maketrans({"ı": "i", "İ": "i"})


def natural_key(text: str) -> tuple:
    """Sort key: numbers by value (`Ünite 2` < `Ünite 10`), letters case- and accent-
    insensitively (`Ünite` next to `Unite`, `ş` next to `s`), then the text itself."""
    folded = unicodedata.normalize("NFKD", text.translate(_DOTLESS).casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    parts = _DIGITS.split(folded)
    # Even positions are text, odd ones numbers: tuples of the same shape compare.
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), text


def path_key(path: str) -> tuple:
    return tuple(natural_key(segment) for segment in path.split("/"))


_NUMBERING = re.compile(r"^\s*\d+(?:\.\d+)*(?:[\s._)\]\-–—]+)")
_DIGIT_DASH = re.compile(r"(?<=\D)-(?=\d)|(?<=\d)-(?=\D)")
_SPACES = re.compile(r"\s+")
_TURKISH = re.compile("[ğıİşŞĞ]")


def _upper_first(text: str) -> str:
    if not text or not text[0].islower():
        return text
    if text[0] in "iı" and (_TURKISH.search(text) or settings.LANGUAGE_CODE.startswith("tr")):
        return {"i": "İ", "ı": "I"}[text[0]] + text[1:]
    return text[0].upper() + text[1:]


def human_title(filename: str) -> str:
    """A title from a file name: extension and leading numbering dropped, separators as
    spaces (`01-welcome.mp3` → "Welcome", `lesson-1.mp4` → "Lesson 1", `07.mp3` → "Track 7")."""
    stem = posixpath.splitext(posixpath.basename(filename))[0].strip()
    if stem.isdigit():
        return str(_("Track %(number)d") % {"number": int(stem)})
    title = _NUMBERING.sub("", stem) or stem
    if " " in title:  # spaces separate the words: a hyphen is part of one (`well-being`)
        title = _DIGIT_DASH.sub(" ", title.replace("_", " "))
    else:  # a slug: `ilkbahar-sarkisi`, `lesson_1`
        title = re.sub(r"[-_]+", " ", title)
    title = _SPACES.sub(" ", title).strip(" -–—.")
    return _upper_first(title or stem)


def folder_title(folder: str) -> str:
    """A section title: each folder level as it is named (`Ünite 2`), `audio` and the like
    translated, levels joined with ›."""
    levels = []
    for name in folder.split("/"):
        known = FOLDER_TITLES.get(name.casefold())
        levels.append(
            str(known) if known else _upper_first(_SPACES.sub(" ", name.replace("_", " ")))
        )
    return " › ".join(levels)


_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z0-9]{2,8}))?$", re.IGNORECASE)


def language_tag(code: str) -> str | None:
    """A BCP 47 tag for a language part of a file name (`tr`, `pt-br` → `pt-BR`), or None."""
    match = _LANGUAGE.match(code)
    if not match or match[1].lower() not in LANG_INFO:
        return None
    primary, region = match[1].lower(), match[2]
    if region is None:
        return primary
    return f"{primary}-{region.upper() if len(region) == 2 else region.lower()}"


def language_label(tag: str) -> str:
    try:
        return get_language_info(tag.lower())["name_local"]
    except KeyError:
        return tag


def site_language() -> str:
    return language_tag(settings.LANGUAGE_CODE) or settings.LANGUAGE_CODE
