"""Tool and response schemas per provider dialect (openai, anthropic, google) on real tool shapes."""

from __future__ import annotations

import copy
import datetime as dt
import enum
import json
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field, HttpUrl, TypeAdapter
from schema_rules import GEMINI_FORBIDDEN, check_anthropic_strict, check_gemini, check_openai_strict, keyword_values

from aiml_agent._provider_schemas import GEMINI_RECURSION_DEPTH, response_schema_for, tool_parameters_for
from aiml_agent.errors import StrictSchemaError
from aiml_agent.strict import to_strict_schema
from aiml_agent.tools import create_tool


class Size(str, enum.Enum):
    SMALL = "small"
    LARGE = "large"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str = Field(min_length=1, max_length=200)
    city: str = "Paris"
    postcode: Annotated[str, Field(pattern=r"^\d{5}$")] | None = None


class Contact(BaseModel):
    email: str = Field(json_schema_extra={"format": "email"})
    homepage: HttpUrl | None = None
    address: Address = Field(description="Where to send the parcel.")


class Category(BaseModel):
    name: str
    children: list[Category] = []


def place_order(
    customer: Contact,
    quantity: Annotated[int, Field(gt=0, le=100, multiple_of=1)],
    size: Size = Size.SMALL,
    level: Level = Level.LOW,
    kind: Literal["book"] = "book",
    deliver_on: dt.date | None = None,
    tags: Annotated[list[str], Field(min_length=2, max_length=5)] = ["new", "gift"],  # noqa: B006
    notes: dict[str, int] | None = None,
    box: tuple[int, int, int] = (1, 1, 1),
) -> str:
    """Place an order.

    Args:
        customer: Who orders.
        quantity: How many.
        size: Which size.
        level: How urgent.
        kind: What is ordered.
        deliver_on: The delivery day.
        tags: Labels for the order.
        notes: Free-form counters.
        box: Box dimensions in cm.
    """
    return "ok"


def file_category(category: Category, parent: Category | None = None) -> str:
    """File a category tree."""
    return "ok"


def ping() -> str:
    """Check the service is up."""
    return "pong"


ORDER = create_tool(place_order).parameters
TREE = create_tool(file_category).parameters
NOTHING = create_tool(ping).parameters
SCHEMAS = {"order": ORDER, "tree": TREE, "nothing": NOTHING, "contact": Contact.model_json_schema()}


def keywords(node: Any) -> set[str]:
    """Every keyword used anywhere in a schema (property names excluded)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key == "properties":
                for sub in value.values():
                    found |= keywords(sub)
            elif key in ("items", "anyOf", "$defs"):
                for sub in value.values() if isinstance(value, dict) and key == "$defs" else [value]:
                    found |= keywords(sub)
    elif isinstance(node, list):
        for item in node:
            found |= keywords(item)
    return found


def descriptions(node: Any) -> str:
    return " | ".join(str(text) for text in keyword_values(node, "description"))


def as_json_schema(node: Any) -> Any:
    """Gemini's OpenAPI ``nullable`` as JSON Schema, to validate instances against a Gemini schema."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: as_json_schema(v) if k in ("items", "anyOf") else v for k, v in node.items() if k != "nullable"}
    if "properties" in node:
        converted["properties"] = {name: as_json_schema(sub) for name, sub in node["properties"].items()}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


ORDER_ARGUMENTS = {
    "customer": {"email": "a@b.c", "homepage": "https://x.test/", "address": {"street": "Main", "city": "Rome"}},
    "quantity": 3,
    "size": "large",
    "level": 2,
    "kind": "book",
    "deliver_on": "2025-01-02",
    "tags": ["a", "b"],
    "notes": {"x": 1},
    "box": [1, 2, 3],
}


# --------------------------------------------------------------------------------------------------
# Every dialect: never mutates, always a new dict.
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", ["openai", "anthropic", "google"])
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_input_is_never_mutated_and_never_shared(dialect: Any, strict: bool, name: str) -> None:
    schema = SCHEMAS[name]
    before = copy.deepcopy(schema)
    try:
        result = tool_parameters_for(schema, dialect=dialect, strict=strict, tool_name=name)
    except StrictSchemaError:
        assert schema == before
        return
    assert schema == before
    result.clear()
    assert schema == before and schema  # the result was not the input itself


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown schema dialect 'mistral'"):
        tool_parameters_for(ORDER, dialect="mistral", strict=True)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# openai
# --------------------------------------------------------------------------------------------------
def test_openai_strict_errors_like_to_strict_schema_and_non_strict_is_an_unchanged_copy() -> None:
    with pytest.raises(StrictSchemaError) as info:  # notes is a free-form dict
        tool_parameters_for(ORDER, dialect="openai", strict=True, tool_name="place_order")
    assert (info.value.tool_name, info.value.parameter, info.value.path) == ("place_order", "notes", "$.properties.notes.anyOf[0]")  # fmt: skip
    loose = tool_parameters_for(ORDER, dialect="openai", strict=False)
    assert loose == ORDER and loose is not ORDER


def test_openai_strict_on_a_strict_able_tool() -> None:
    result = tool_parameters_for(TREE, dialect="openai", strict=True, tool_name="file_category")
    check_openai_strict(result)
    assert result == to_strict_schema(TREE, tool_name="file_category")


# --------------------------------------------------------------------------------------------------
# anthropic
# --------------------------------------------------------------------------------------------------
ANTHROPIC_ORDER = {k: v for k, v in ORDER["properties"].items() if k != "notes"}
STRICT_ABLE_ORDER = {**ORDER, "properties": ANTHROPIC_ORDER, "required": ["customer", "quantity"]}


def test_anthropic_strict_drops_what_it_rejects_into_descriptions() -> None:
    before = copy.deepcopy(STRICT_ABLE_ORDER)
    result = tool_parameters_for(STRICT_ABLE_ORDER, dialect="anthropic", strict=True, tool_name="place_order")
    assert before == STRICT_ABLE_ORDER
    check_anthropic_strict(result)
    assert not keywords(result) & {"minimum", "maximum", "exclusiveMinimum", "multipleOf", "minLength", "maxLength",
                                   "maxItems", "default", "title"}  # fmt: skip
    quantity = result["properties"]["quantity"]
    assert quantity["description"] == "How many. (exclusiveMinimum: 0, maximum: 100, multipleOf: 1)"
    tags = result["properties"]["tags"]["anyOf"][0]  # optional: nullable
    assert "minItems" not in tags and "minItems: 2" in result["properties"]["tags"]["description"]
    text = descriptions(result)
    assert "minLength: 1" in text and "maxLength: 200" in text and "maxItems: 5" in text
    # what Anthropic does take stays: uri format, a simple pattern, minItems 0/1
    contact = result["properties"]["customer"]  # a reference with a description beside it: spelled out
    assert contact["properties"]["homepage"]["anyOf"][0] == {"type": "string", "format": "uri",
                                                             "description": "maxLength: 2083, minLength: 1"}  # fmt: skip
    postcode = contact["properties"]["address"]["properties"]["postcode"]
    assert postcode["anyOf"][0] == {"type": "string", "pattern": r"^\d{5}$"}
    one = tool_parameters_for({"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "integer"},
                              "minItems": 1}}}, dialect="anthropic", strict=True)  # fmt: skip
    assert one["properties"]["xs"]["anyOf"][0]["minItems"] == 1


def test_anthropic_strict_refuses_recursive_schemas_naming_the_path() -> None:
    with pytest.raises(StrictSchemaError, match="recursive schema.*Anthropic strict mode.*non-strict") as info:
        tool_parameters_for(TREE, dialect="anthropic", strict=True, tool_name="file_category")
    assert (info.value.tool_name, info.value.parameter) == ("file_category", "category")
    assert info.value.path == "$.$defs.Category.properties.children.items"
    root_recursion = {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}}
    with pytest.raises(StrictSchemaError, match="recursive"):
        tool_parameters_for(root_recursion, dialect="anthropic", strict=True)


def test_anthropic_non_strict_is_an_unchanged_copy() -> None:
    loose = tool_parameters_for(TREE, dialect="anthropic", strict=False)
    assert loose == TREE and loose is not TREE


# --------------------------------------------------------------------------------------------------
# google (Gemini)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_gemini_schema_has_no_forbidden_keyword_anywhere(name: str) -> None:
    result = tool_parameters_for(SCHEMAS[name], dialect="google", strict=True, tool_name=name)
    check_gemini(result)
    assert not keywords(result) & GEMINI_FORBIDDEN, keywords(result) & GEMINI_FORBIDDEN
    assert tool_parameters_for(SCHEMAS[name], dialect="google", strict=False, tool_name=name) == result  # no strict


def test_gemini_moves_information_into_descriptions() -> None:
    result = tool_parameters_for(ORDER, dialect="google", strict=False, tool_name="place_order")
    props = result["properties"]
    assert props["quantity"] == {"type": "integer", "maximum": 100,
                                 "description": "How many. (exclusiveMinimum: 0, multipleOf: 1)"}  # fmt: skip
    assert props["size"] == {"type": "string", "enum": ["small", "large"], "description": 'Which size. (default: "small")'}  # fmt: skip
    assert props["kind"]["enum"] == ["book"]  # const -> a one-value enum
    assert props["level"]["type"] == "integer" and "enum: [1, 2]" in props["level"]["description"]  # not a string enum
    assert props["deliver_on"] == {"type": "string", "nullable": True,
                                   "description": "The delivery day. (format: date)"}  # fmt: skip
    assert props["tags"]["minItems"] == 2 and 'default: ["new", "gift"]' in props["tags"]["description"]
    assert props["notes"] == {"type": "object", "properties": {}, "nullable": True,
                              "description": "Free-form counters. (any property names, each value integer)"}  # fmt: skip
    assert props["box"]["items"] == {"type": "integer"} and "items in order: integer, integer, integer" in props["box"]["description"]  # fmt: skip
    contact = props["customer"]
    assert contact["properties"]["homepage"] == {"type": "string", "maxLength": 2083, "minLength": 1,
                                                 "description": "format: uri", "nullable": True}  # fmt: skip
    assert contact["properties"]["email"] == {"type": "string", "description": "format: email"}
    address = contact["properties"]["address"]
    assert address["description"] == "Where to send the parcel." and address["required"] == ["street"]
    assert address["properties"]["city"] == {"type": "string", "description": 'default: "Paris"'}
    assert address["properties"]["postcode"] == {"type": "string", "pattern": r"^\d{5}$", "nullable": True}


def test_gemini_schema_accepts_the_arguments_the_tool_accepts() -> None:
    result = tool_parameters_for(ORDER, dialect="google", strict=False)
    jsonschema.validate(ORDER_ARGUMENTS, ORDER)
    jsonschema.validate(ORDER_ARGUMENTS, as_json_schema(result))
    nulls = {**ORDER_ARGUMENTS, "deliver_on": None, "notes": None}
    jsonschema.validate(nulls, as_json_schema(result))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**ORDER_ARGUMENTS, "size": "huge"}, as_json_schema(result))


def test_gemini_cuts_recursion_at_a_bounded_depth_with_a_description() -> None:
    result = tool_parameters_for(TREE, dialect="google", strict=False, tool_name="file_category")
    check_gemini(result)
    node, levels = result["properties"]["category"], 0
    while "items" in node["properties"]["children"]:
        levels += 1
        node = node["properties"]["children"]["items"]
        if not node["properties"]:
            break
    assert levels == GEMINI_RECURSION_DEPTH
    assert node["type"] == "object" and node["properties"] == {}
    assert "Category again, as described above" in node["description"]
    parent = result["properties"]["parent"]
    assert parent["nullable"] is True and "children" in parent["properties"]
    assert len(json.dumps(result)) < 5000


def test_gemini_tool_without_parameters_keeps_an_empty_properties_object() -> None:
    assert tool_parameters_for(NOTHING, dialect="google", strict=False) == {"type": "object", "properties": {}}
    assert tool_parameters_for({}, dialect="google", strict=False) == {"type": "object", "properties": {}}


def test_gemini_type_lists_and_unions_with_null() -> None:
    schema = {"type": "object", "properties": {
        "a": {"type": ["string", "null"]},
        "b": {"type": ["string", "integer"]},
        "c": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}], "description": "C."},
        "d": {"enum": ["x", None]},
        "e": {"const": 3},
    }}  # fmt: skip
    props = tool_parameters_for(schema, dialect="google", strict=False)["properties"]
    assert props["a"] == {"type": "string", "nullable": True}
    assert props["b"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["c"] == {"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "C.", "nullable": True}
    assert props["d"] == {"enum": ["x"], "type": "string", "nullable": True}
    assert props["e"] == {"type": "integer", "description": "const: 3"}


def test_gemini_errors_name_tool_parameter_and_path() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "other.json#/Thing"}}}
    with pytest.raises(StrictSchemaError, match="cannot resolve") as info:
        tool_parameters_for(schema, dialect="google", strict=False, tool_name="t")
    assert (info.value.tool_name, info.value.parameter, info.value.path) == ("t", "a", "$.properties.a")
    with pytest.raises(StrictSchemaError, match="root cannot be a union"):
        tool_parameters_for({"anyOf": [{"type": "object"}]}, dialect="google", strict=False, tool_name="t")


# --------------------------------------------------------------------------------------------------
# response schemas
# --------------------------------------------------------------------------------------------------
class Answer(BaseModel):
    city: str
    when: dt.datetime | None = None
    tree: Category | None = None


def test_response_schema_for_each_dialect() -> None:
    schema = Answer.model_json_schema()
    before = copy.deepcopy(schema)
    openai = response_schema_for(schema, dialect="openai", strict=True, name="Answer")
    assert openai == to_strict_schema(schema, tool_name="Answer")
    check_openai_strict(openai)
    google = response_schema_for(schema, dialect="google", strict=True, name="Answer")
    check_gemini(google)
    assert google["properties"]["when"] == {"type": "string", "format": "date-time", "nullable": True}
    with pytest.raises(StrictSchemaError, match="recursive") as info:
        response_schema_for(schema, dialect="anthropic", strict=True, name="Answer")
    assert info.value.tool_name == "Answer"
    assert response_schema_for(schema, dialect="anthropic", strict=False) == schema
    assert schema == before


def test_gemini_response_schema_may_have_any_root() -> None:
    schema = TypeAdapter(list[Address]).json_schema()
    result = response_schema_for(schema, dialect="google", strict=False)
    check_gemini(result, root_object=False)
    assert result["type"] == "array" and result["items"]["properties"]["street"]["type"] == "string"
    with pytest.raises(StrictSchemaError, match="root must be of type 'object'"):
        tool_parameters_for(schema, dialect="google", strict=False)
