"""Reading a cassette file: its shape checked, and a file that is not a cassette named with its fault.

vcrpy hands a parse error or a ``TypeError`` from deep inside for a broken file, or treats an unreadable one as
empty and records over it. Here both are a :class:`CassetteFormatError` that names the file and what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


class CassetteFormatError(ValueError):
    """A cassette file is not valid YAML/JSON or not shaped like a cassette; the message names file and fault.

    :param problem: What is wrong, with where (a line and column, or a path such as ``interactions[0].request``).
    :param path: The cassette file, when known.
    """

    def __init__(self, problem: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else Path(path)
        where = f"{self.path} is not a valid cassette" if self.path is not None else "not a valid cassette"
        super().__init__(f"{where}: {problem}. Fix the file, or delete it and record it again (record mode 'rewrite').")


def yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where}: {' '.join(str(problem).split())}"


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__} ({_short(value)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _mapping(value: Any, where: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CassetteFormatError(f"{where} should be a mapping, found {_kind(value)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise CassetteFormatError(f"{where} has no {', '.join(repr(key) for key in missing)}")
    return value


def _check_body(body: Any, where: str, *, text_key: str | None) -> None:
    if isinstance(body, dict) and "json" in body:
        return
    if text_key is not None:
        body = _mapping(body, where, (text_key,))[text_key]
        where = f"{where}.{text_key}"
    if body is not None and not isinstance(body, (str, bytes)):
        raise CassetteFormatError(f"{where} should be text, found {_kind(body)}")


def checked_shape(data: Any) -> dict[str, Any]:
    """``data`` when it is shaped like a cassette (what vcrpy reads of it), else :class:`CassetteFormatError`.

    A cassette is a mapping with an ``interactions`` list; each holds a ``request`` (``method``, ``uri``,
    ``headers``, ``body``) and a ``response`` (``status`` with a numeric ``code``, ``headers``, ``body``).
    """
    top = _mapping(data, "the top level", ("interactions",))
    interactions = top["interactions"]
    if not isinstance(interactions, list):
        raise CassetteFormatError(f"'interactions' should be a list, found {_kind(interactions)}")
    for number, interaction in enumerate(interactions):
        at = f"interactions[{number}]"
        _mapping(interaction, at, ("request", "response"))
        request = _mapping(interaction["request"], f"{at}.request", ("method", "uri", "headers", "body"))
        unknown = sorted(set(request) - {"method", "uri", "headers", "body"})
        if unknown:
            raise CassetteFormatError(f"{at}.request has unknown keys: {', '.join(map(repr, unknown))}")
        for key in ("method", "uri"):
            if not isinstance(request[key], str):
                raise CassetteFormatError(f"{at}.request.{key} should be text, found {_kind(request[key])}")
        _mapping(request["headers"], f"{at}.request.headers", ())
        _check_body(request["body"], f"{at}.request.body", text_key=None)
        response = _mapping(interaction["response"], f"{at}.response", ("status", "headers", "body"))
        status = _mapping(response["status"], f"{at}.response.status", ("code",))
        if not isinstance(status["code"], int) or isinstance(status["code"], bool):
            raise CassetteFormatError(f"{at}.response.status.code should be a number, found {_kind(status['code'])}")
        _mapping(response["headers"], f"{at}.response.headers", ())
        _check_body(response["body"], f"{at}.response.body", text_key="string")
    return top


class FileNamingPersister:
    """vcrpy persister around another one: a cassette that cannot be read fails naming its file.

    vcrpy treats an unreadable cassette as empty (and may record over it); here it is an error instead.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def load_cassette(self, cassette_path: str | os.PathLike[str], serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteDecodeError

        try:
            return self.inner.load_cassette(cassette_path, serializer=serializer)
        except CassetteFormatError as error:
            # One error that says it all: the parser's own traceback adds nothing to the line and column.
            raise CassetteFormatError(error.problem, path=self._culprit(cassette_path, serializer)) from None
        except (UnicodeDecodeError, CassetteDecodeError):
            raise CassetteFormatError("not UTF-8 text", path=self._culprit(cassette_path, serializer)) from None

    def save_cassette(self, cassette_path: str | os.PathLike[str], cassette_dict: Any, serializer: Any) -> None:
        self.inner.save_cassette(cassette_path, cassette_dict, serializer=serializer)

    def _culprit(self, cassette_path: str | os.PathLike[str], serializer: Any) -> str | os.PathLike[str]:
        """The file that failed: the cassette, or one of the extra cassettes a ``vcr`` mark names."""
        extra = getattr(self.inner, "extra_paths", None) or []
        for path in [cassette_path, *extra]:
            try:
                serializer.deserialize(Path(path).read_text(encoding="utf-8"))
            except (CassetteFormatError, UnicodeDecodeError):
                return path
            except OSError:
                continue
        return cassette_path
