"""Whether a JSON-schema ``pattern`` stays within the regex subset providers' strict modes compile.

OpenAI answers 400 ("regex lookaround is not supported") and Anthropic's strict mode documents no support for
backreferences, lookaround, word boundaries or large repetition counts. Both compile patterns into a grammar,
so only plain constructs are safe: literals and escapes, ``.``, character classes (``[a-z]``, ``\\d``, ``\\w``,
``\\s``), groups and non-capturing groups, alternation, the quantifiers ``* + ? {n} {n,} {n,m}`` (lazy ones too)
with counts up to :data:`MAX_REPEAT`, and ``^``/``$``. A pattern outside it is moved into the description.
"""

from __future__ import annotations

import re

#: Largest repetition count a "simple" pattern may use (``a{1,1000}``).
MAX_REPEAT = 1000
_GROUP_KINDS = (
    ("=", "lookaround"), ("!", "lookaround"), ("<=", "lookaround"), ("<!", "lookaround"),
    ("P=", "backreferences"), ("P<", "named groups"), ("<", "named groups"), (">", "atomic groups"),
    ("(", "conditionals"),
)  # fmt: skip
_ESCAPES = {"b": "word boundaries", "B": "word boundaries", "k": "backreferences", "p": "Unicode property classes",
            "P": "Unicode property classes", "A": "anchors other than ^ and $", "Z": "anchors other than ^ and $",
            "z": "anchors other than ^ and $", "G": "anchors other than ^ and $"}  # fmt: skip
_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def unsupported_regex(pattern: str) -> str | None:
    """The first construct of ``pattern`` outside the simple subset (e.g. ``"lookaround"``), or None when it is in."""
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped.isdigit() and escaped != "0":
                return "backreferences"
            if escaped in _ESCAPES:
                return _ESCAPES[escaped]
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            index += 2 if pattern[index + 1 : index + 2] == "^" else 1
            index += 1 if pattern[index : index + 1] == "]" else 0  # a leading ] is a literal
            continue
        elif char == "(" and pattern[index + 1 : index + 2] == "?":
            rest = pattern[index + 2 :]
            if not rest.startswith(":"):
                return next((kind for prefix, kind in _GROUP_KINDS if rest.startswith(prefix)), "inline flags")
        elif char in "*+?}" and pattern[index + 1 : index + 2] == "+":
            return "possessive quantifiers"
        elif char == "{":
            count = _COUNT.match(pattern, index)
            if count and any(n and int(n) > MAX_REPEAT for n in count.groups()):
                return f"repetition counts above {MAX_REPEAT}"
        index += 1
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as error:
        return f"an invalid regular expression ({error})"
    return None
