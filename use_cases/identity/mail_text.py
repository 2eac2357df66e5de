"""Text a user chose (their name), made safe to quote in a plain-text mail the service sends.

A name is free text: an attacker registering someone else's address picks it so the mail reads
like theirs ("Your account is locked, call +1 555... / visit evil.example"). So a mail never opens
with it nor puts it in the subject; where it appears it is one quoted line, short, with no control
or invisible characters (no line breaks, no bidirectional overrides) and links defanged.
"""
from __future__ import annotations

import re
import unicodedata

MAX_QUOTED_CHARS = 60
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
_DOT_BETWEEN_WORDS = re.compile(r"(?<=\w)\.(?=\w)")


def quoted(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """`text` as one quoted, plain, inert line: `"Ann B."`; `"evil[.]example"` for a link."""
    visible = "".join(" " if ch.isspace() else ch for ch in unicodedata.normalize("NFKC", text)
                      if unicodedata.category(ch) not in _INVISIBLE or ch.isspace())
    line = " ".join(visible.split())
    if len(line) > limit:
        line = line[:limit - 1].rstrip() + "…"
    line = line.replace("\\", "\\\\").replace('"', "'").replace("://", "[:]//")
    line = _DOT_BETWEEN_WORDS.sub("[.]", line).replace("<", "(").replace(">", ")")
    return f'"{line}"'
