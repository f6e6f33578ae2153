"""Read a tool's description and its parameters' descriptions from a function docstring.

Google, NumPy, reST/Sphinx and Epydoc styles are recognised (docstring-parser's automatic style
detection). The description keeps the summary and the free text below it and leaves out the
``Args``/``Parameters``/``Returns``/``Raises`` sections, which the JSON schema already carries.

reST markup the model has no use for is reduced to its text: ````literal```` to ``literal``, roles such as
``:class:`Order``` or ``:func:`~shop.api.lookup``` to ``Order`` and ``lookup``, links ```text <url>`_`` to
``text``. Markdown's single backticks stay: they mark code for the model as well as for a reader.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

from docstring_parser import DocstringStyle, ParseError, parse

# Cheap style detection first: docstring-parser's AUTO style parses the text once per style (~3x slower).
_STYLE_MARKERS: tuple[tuple[DocstringStyle, re.Pattern[str]], ...] = (
    (
        DocstringStyle.REST,
        re.compile(r"^\s*:(param|parameter|arg|argument|key|keyword|type|returns?|raises?)\b", re.MULTILINE),
    ),
    (DocstringStyle.EPYDOC, re.compile(r"^\s*@(param|type|returns?|rtype|raises?)\b", re.MULTILINE)),
    (
        DocstringStyle.NUMPYDOC,
        re.compile(r"^\s*(Parameters|Other Parameters|Returns|Raises|Yields)\s*\n\s*-{3,}", re.MULTILINE),
    ),
    (
        DocstringStyle.GOOGLE,
        re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns|Raises|Yields)\s*:\s*$", re.MULTILINE),
    ),
)


# :class:`X`, :py:meth:`x.y`, :ref:`title <target>`; the role may carry a domain (py:, c:, ...).
_ROLE = re.compile(r":(?:[A-Za-z][\w+-]*:)?[A-Za-z][\w+-]*:`([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]+>`__?")  # `text <https://...>`_ and anonymous `text <...>`__
_REFERENCE = re.compile(r"`([^`]+)`__?(?![\w`])")  # `name`_


def _role_text(match: re.Match[str]) -> str:
    content = match.group(1).strip()
    titled = re.fullmatch(r"(.+?)\s*<[^<>]+>", content, re.DOTALL)
    if titled:
        return titled.group(1)
    if content.startswith("~"):  # Sphinx: show only the last part of the dotted name
        return content[1:].rsplit(".", 1)[-1]
    return content.removeprefix("!")


def plain_text(text: str) -> str:
    """``text`` with reST roles, literals and links reduced to the words they show."""
    if "`" not in text:
        return text
    text = _ROLE.sub(_role_text, text)
    text = _LINK.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    return _REFERENCE.sub(r"\1", text)


def _guess_style(text: str) -> DocstringStyle:
    matches = [style for style, marker in _STYLE_MARKERS if marker.search(text)]
    if len(matches) == 1:
        return matches[0]
    return DocstringStyle.AUTO if matches else DocstringStyle.REST  # no sections: every style reads it alike


@dataclass(frozen=True)
class ParsedDocstring:
    """What a tool needs from a docstring.

    :param description: Summary and long description, without parameter/returns/raises sections.
    :param params: Parameter name -> its description.
    """

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(docstring: str | None) -> ParsedDocstring:
    """Split ``docstring`` into the tool description and the per-parameter descriptions.

    :param docstring: The raw ``__doc__`` of a function (``None`` gives an empty result).
    :returns: The description and the parameter descriptions; text that is not a docstring in any known
        style becomes the description as a whole.
    """
    if not docstring or not docstring.strip():
        return ParsedDocstring()
    text = inspect.cleandoc(docstring)
    try:
        parsed = parse(text, style=_guess_style(text))
    except ParseError:
        return ParsedDocstring(description=plain_text(text))

    parts = [part.strip() for part in (parsed.short_description, parsed.long_description) if part and part.strip()]
    separator = "\n\n" if parsed.blank_after_short_description else "\n"
    params = {
        param.arg_name: plain_text(" ".join(param.description.split()))
        for param in parsed.params
        if param.description and param.description.strip()
    }
    return ParsedDocstring(description=plain_text(separator.join(parts)), params=params)
