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


NUMPY_MARKUP = """Find an order by its ``order_id`` and return an :class:`~shop.models.Order`.

    Calls :func:`shop.api.lookup` (see `the API guide <https://example.com/api>`_); the result is
    cached, as :py:meth:`Cache.get` explains.

    Parameters
    ----------
    order_id : str
        The id, e.g. ``"A-1001"``; see :ref:`ids <order-ids>`.
    verbose : bool
        Add the ``history`` of the order.
    """

REST_MARKUP = """Find an order by its ``order_id``.

    :param order_id: The id, e.g. ``"A-1001"``, as :class:`shop.OrderId` makes it.
    :returns: The order.
    """


def test_rest_markup_becomes_plain_text_in_numpy_docstrings() -> None:
    parsed = parse_docstring(NUMPY_MARKUP)
    assert parsed.description == (
        "Find an order by its order_id and return an Order.\n\n"
        "Calls shop.api.lookup (see the API guide); the result is\ncached, as Cache.get explains."
    )
    assert parsed.params == {
        "order_id": 'The id, e.g. "A-1001"; see ids.',
        "verbose": "Add the history of the order.",
    }


def test_rest_markup_becomes_plain_text_in_rest_docstrings_and_in_the_tool() -> None:
    from aiml_agent import create_tool

    def find_order(order_id: str) -> str:
        return order_id

    find_order.__doc__ = REST_MARKUP
    made = create_tool(find_order)
    assert made.description == "Find an order by its order_id."
    assert (
        made.parameters["properties"]["order_id"]["description"] == 'The id, e.g. "A-1001", as shop.OrderId makes it.'
    )
    assert "`" not in str(made.tool_spec)


def test_markdown_code_and_text_without_markup_stay_as_written() -> None:
    parsed = parse_docstring("Run `ls -l` in the folder.\n\nArgs:\n    path: A `pathlib.Path`-like string.\n")
    assert parsed.description == "Run `ls -l` in the folder."
    assert parsed.params == {"path": "A `pathlib.Path`-like string."}
