"""Docstring parsing: description without sections, parameter descriptions, in all four styles."""

from __future__ import annotations

import pytest

from aiml_agent._docstrings import parse_docstring

GOOGLE = """Search flights between two airports.

    Cheapest flights come first.

    Args:
        origin: IATA code of the departure airport.
        passengers (int): How many seats,
            at most nine.

    Returns:
        list[dict]: The flights.

    Raises:
        ValueError: An unknown airport.
    """

NUMPY = """Search flights between two airports.

    Cheapest flights come first.

    Parameters
    ----------
    origin : str
        IATA code of the departure airport.
    passengers : int, optional
        How many seats,
        at most nine.

    Returns
    -------
    list[dict]
        The flights.
    """

REST = """Search flights between two airports.

    Cheapest flights come first.

    :param origin: IATA code of the departure airport.
    :param passengers: How many seats,
        at most nine.
    :returns: The flights.
    :raises ValueError: An unknown airport.
    """

EPYDOC = """Search flights between two airports.

    Cheapest flights come first.

    @param origin: IATA code of the departure airport.
    @param passengers: How many seats,
        at most nine.
    @return: The flights.
    @raise ValueError: An unknown airport.
    """


@pytest.mark.parametrize("docstring", [GOOGLE, NUMPY, REST, EPYDOC], ids=["google", "numpy", "rest", "epydoc"])
def test_four_styles_give_the_same_result(docstring: str) -> None:
    parsed = parse_docstring(docstring)
    assert parsed.description == "Search flights between two airports.\n\nCheapest flights come first."
    assert parsed.params == {
        "origin": "IATA code of the departure airport.",
        "passengers": "How many seats, at most nine.",
    }


def test_sections_never_leak_into_the_description() -> None:
    for docstring in (GOOGLE, NUMPY, REST, EPYDOC):
        description = parse_docstring(docstring).description
        for leaked in ("origin", "Returns", "Raises", "ValueError", "The flights", ":param", "@param", "---"):
            assert leaked not in description


def test_haystack_style_param_on_next_line() -> None:
    parsed = parse_docstring(
        """
        Look up a word.

        :param word:
            The word to look up.
        :returns:
            The definition.
        """
    )
    assert parsed.description == "Look up a word."
    assert parsed.params == {"word": "The word to look up."}


@pytest.mark.parametrize("docstring", [None, "", "   \n  "])
def test_empty_docstrings(docstring: str | None) -> None:
    parsed = parse_docstring(docstring)
    assert parsed.description == ""
    assert parsed.params == {}


def test_plain_text_is_all_description() -> None:
    parsed = parse_docstring("Say hello.\n\n    Greets the user politely,\n    in any language.\n    ")
    assert parsed.description == "Say hello.\n\nGreets the user politely,\nin any language."
    assert parsed.params == {}
