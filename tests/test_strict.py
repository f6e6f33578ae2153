"""to_strict_schema and tool_definitions against a checker of OpenAI's strict function-calling rules."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import enum
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal, Optional, Union

import jsonschema
import pytest
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from haystack.utils import Secret
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from schema_rules import check_openai_strict, keyword_values
from typing_extensions import NotRequired, TypedDict

from aiml_agent import _request as strict_module
from aiml_agent._request import MAX_TOOLS, tool_definitions
from aiml_agent._schema import resolve_ref
from aiml_agent.errors import StrictSchemaError
from aiml_agent.generator import AIMLAPIChatGenerator
from aiml_agent.strict import to_strict_schema
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tools import create_tool


# --------------------------------------------------------------------------------------------------
# The battery: schemas the way pydantic (and so create_tool) writes them.
# --------------------------------------------------------------------------------------------------
class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    street: str
    city: str = "Paris"
    zip_code: str | None = None


class Person(BaseModel):
    name: Annotated[str, Field(description="Full name", min_length=1, max_length=80)]
    home: Address = Field(description="Where they live")  # $ref with a sibling description
    work: Address | None = None
    tags: set[str] = set()


class TreeNode(BaseModel):
    value: int
    children: list[TreeNode] = []


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Pet(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


def params(**fields: Any) -> dict[str, Any]:
    """The JSON schema of a function-like signature: name=(type, default) or name=type."""
    return create_model("Params", **fields).model_json_schema()


BATTERY: dict[str, dict[str, Any]] = {
    "no_params": params(),
    "scalars": params(city=str, days=(int, 3), metric=(bool, True), ratio=(float, ...)),
    "optional": params(a=(Optional[str], None), b=(int | None, ...), c=(Optional[int], 5)),
    "literal_enum": params(unit=(Literal["c", "f"], "c"), color=Color, prio=(Priority, Priority.LOW)),
    "nested": params(person=Person, people=(list[Person], [])),
    "dataclass_typeddict": params(point=Point, movie=(Optional[Movie], None)),
    "dates": params(when=dt.datetime, day=(dt.date, dt.date(2024, 1, 1)), at=dt.time, span=dt.timedelta, id=uuid.UUID),
    "recursive": params(tree=TreeNode),
    "unions": params(value=Union[int, str], shape=(Union[Address, Point], ...), pet=Pet),
    "constraints": params(
        q=(str, Field(min_length=3, max_length=10, pattern="^[a-z]+$")),
        n=(int, Field(ge=1, le=100, multiple_of=5)),
        xs=(list[int], Field(min_length=1, max_length=4)),
        pair=(tuple[float, float], (0.0, 0.0)),
        mixed=tuple[int, str],
    ),
    "model_schema": Person.model_json_schema(),
    "type_adapter": TypeAdapter(Address).json_schema(),
    "examples": params(q=(str, Field(examples=["cats"], json_schema_extra={"deprecated": True}))),
}


@pytest.mark.parametrize("name", sorted(BATTERY))
def test_battery_passes_the_openai_checker(name: str) -> None:
    schema = BATTERY[name]
    before = copy.deepcopy(schema)
    strict = to_strict_schema(schema, tool_name=name)
    assert schema == before, "input mutated"
    check_openai_strict(strict)
    assert (
        not keyword_values(strict, "default")
        and not keyword_values(strict, "title")
        and not keyword_values(strict, "oneOf")
    )


@pytest.mark.parametrize("name", sorted(BATTERY))
def test_result_shares_nothing_with_the_input(name: str) -> None:
    schema = BATTERY[name]
    before = copy.deepcopy(schema)
    strict = to_strict_schema(schema)

    def scramble(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                scramble(v)
            node.clear()
        elif isinstance(node, list):
            for v in node:
                scramble(v)
            node.clear()

    scramble(strict)
    assert schema == before


SAMPLES = [
    (Person, Person(name="Ann", home=Address(street="Main"), tags={"a"})),
    (TreeNode, TreeNode(value=1, children=[TreeNode(value=2)])),
    (Pet, Pet(pet=Dog(kind="dog"))),
    (Address, Address(street="Main", zip_code="75001")),
]


@pytest.mark.parametrize(("model", "instance"), SAMPLES, ids=lambda v: getattr(v, "__name__", "instance"))
def test_strict_schema_still_accepts_real_values_and_nulls_for_optionals(model: Any, instance: Any) -> None:
    strict = to_strict_schema(model.model_json_schema())
    data = instance.model_dump(mode="json")
    jsonschema.validate(data, strict)  # every field present, as the model would send it
    optional = [name for name, field in model.model_fields.items() if not field.is_required()]
    jsonschema.validate({**data, **dict.fromkeys(optional)}, strict)  # null means "use the default"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "unexpected": 1}, strict)


# --------------------------------------------------------------------------------------------------
# Each rule on its own.
# --------------------------------------------------------------------------------------------------
def test_optional_properties_become_required_and_nullable_without_double_wrapping() -> None:
    strict = to_strict_schema(params(a=(Optional[str], None), b=(int, 3), c=(Address, None), d=(Color, Color.RED)))
    props = strict["properties"]
    assert strict["required"] == ["a", "b", "c", "d"]
    assert props["a"]["anyOf"] == [{"type": "string"}, {"type": "null"}]  # already nullable: left as is
    assert props["b"]["type"] == ["integer", "null"]  # simple type: null added to the type list
    assert props["c"]["anyOf"] == [{"$ref": "#/$defs/Address"}, {"type": "null"}]
    assert "default: 3" in props["b"]["description"]
    # a default beside a $ref has to go somewhere: the enum is inlined and the default described
    assert props["d"] == {"anyOf": [{"enum": ["red", "green"], "type": "string"}, {"type": "null"}],
                          "description": 'default: "red"'}  # fmt: skip


def test_required_nullable_stays_as_it_was() -> None:
    strict = to_strict_schema(params(b=(int | None, ...)))
    assert strict["properties"]["b"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}


def test_enum_with_type_list_gets_wrapped_not_broken() -> None:
    schema = {"type": "object", "properties": {"u": {"type": "string", "enum": ["c", "f"]}}}
    prop = to_strict_schema(schema)["properties"]["u"]
    assert prop == {"anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}]}
    jsonschema.validate({"u": None}, to_strict_schema(schema))


def test_unsupported_keywords_move_into_the_description_and_supported_ones_stay() -> None:
    strict = to_strict_schema(BATTERY["constraints"])
    q, n, xs = (strict["properties"][k] for k in ("q", "n", "xs"))
    assert "minLength" not in q and "maxLength" not in q
    assert "minLength: 3" in q["description"] and "maxLength: 10" in q["description"]
    assert q["pattern"] == "^[a-z]+$"
    assert (n["minimum"], n["maximum"], n["multipleOf"]) == (1, 100, 5)
    assert (xs["minItems"], xs["maxItems"]) == (1, 4)
    person = to_strict_schema(Person.model_json_schema())
    name = person["properties"]["name"]["description"]
    assert name.startswith("Full name (") and "minLength: 1" in name and "maxLength: 80" in name
    tags = person["properties"]["tags"]
    assert "uniqueItems: true" in tags["description"] and "uniqueItems" not in str(tags["anyOf"])


def test_other_unknown_keywords_are_described_too() -> None:
    schema = {
        "type": "object",
        "properties": {
            "o": {"type": "object", "properties": {"a": {"type": "string"}}, "minProperties": 1,
                  "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": False},
            "s": {"type": "string", "contentEncoding": "base64", "description": "Blob."},
        },
        "required": ["o", "s"],
    }  # fmt: skip
    strict = to_strict_schema(schema)
    check_openai_strict(strict)
    assert "minProperties: 1" in strict["properties"]["o"]["description"]
    assert 'patternProperties: {"^x": {"type": "string"}}' in strict["properties"]["o"]["description"]
    assert strict["properties"]["s"]["description"] == "Blob. (contentEncoding: base64)"


def test_oneof_becomes_anyof_and_single_allof_is_merged() -> None:
    schema = {
        "type": "object",
        "properties": {
            "v": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "a": {"allOf": [{"$ref": "#/definitions/A"}], "description": "An A"},
        },
        "required": ["v", "a"],
        "definitions": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}, "title": "A"}},
    }
    strict = to_strict_schema(schema)
    check_openai_strict(strict)
    assert strict["properties"]["v"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    a = strict["properties"]["a"]
    assert a["description"] == "An A" and a["properties"] == {"x": {"type": ["integer", "null"]}}
    assert "definitions" not in strict and "$defs" not in strict  # A was merged in: nothing refers to it any more


def test_ref_with_siblings_is_inlined_and_plain_refs_and_defs_kept() -> None:
    strict = to_strict_schema(Person.model_json_schema())
    home = strict["properties"]["home"]
    assert "$ref" not in home and home["description"] == "Where they live"
    assert home["required"] == ["street", "city", "zip_code"] and home["additionalProperties"] is False
    assert strict["properties"]["work"]["anyOf"][0] == {"$ref": "#/$defs/Address"}
    assert strict["$defs"]["Address"]["additionalProperties"] is False


def test_recursive_model_keeps_its_ref() -> None:
    strict = to_strict_schema(params(tree=TreeNode))
    children = strict["$defs"]["TreeNode"]["properties"]["children"]
    assert children["anyOf"][0] == {"type": "array", "items": {"$ref": "#/$defs/TreeNode"}}


def test_root_given_as_ref_is_spelled_out() -> None:
    schema = {"$ref": "#/$defs/A", "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}}}}
    strict = to_strict_schema(schema)
    check_openai_strict(strict)
    assert strict["properties"] == {"x": {"type": ["integer", "null"]}} and strict["required"] == ["x"]


def test_resolve_ref_follows_local_json_pointers_only() -> None:
    address = {"type": "object", "properties": {"city": {"type": "string"}}}
    root = {"$defs": {"Address": address, "a/b~c": {"type": "integer"}}, "definitions": {"Old": {"type": "string"}},
            "properties": {"xs": {"anyOf": [{"type": "null"}, address]}}}  # fmt: skip
    assert resolve_ref("#/$defs/Address", root) is address
    assert resolve_ref("#/definitions/Old", root) == {"type": "string"}
    assert resolve_ref("#/$defs/a~1b~0c", root) == {"type": "integer"}  # JSON pointer escapes
    assert resolve_ref("#/%24defs/Address", root) is address  # percent-encoded fragment
    assert resolve_ref("#/properties/xs/anyOf/1", root) is address
    for missing in ("#/$defs/Nope", "#/definitions/Address", "#/properties/xs/anyOf/9", "Address",
                    "other.json#/$defs/Address", "#", 42, None):  # fmt: skip
        assert resolve_ref(missing, root) is None


def test_ref_into_another_definitions_section_is_not_mistaken_for_a_def() -> None:
    # "#/definitions/A" is not "#/$defs/A": following it to $defs would send a $ref that points nowhere
    schema = {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}},
              "$defs": {"A": {"type": "object", "properties": {}}}}  # fmt: skip
    with pytest.raises(StrictSchemaError, match="cannot resolve"):
        to_strict_schema(schema)
    schema["properties"]["a"]["$ref"] = "#/$defs/A"
    check_openai_strict(to_strict_schema(schema))


def test_existing_closed_objects_and_empty_objects_are_fine() -> None:
    schema = {
        "type": "object",
        "properties": {"e": {"type": "object", "additionalProperties": False}, "m": params()},
        "required": ["e", "m"],
        "additionalProperties": False,
    }
    strict = to_strict_schema(schema)
    check_openai_strict(strict)
    empty = {"type": "object", "additionalProperties": False, "properties": {}, "required": []}
    assert strict["properties"]["e"] == empty


# --------------------------------------------------------------------------------------------------
# Shapes that cannot be strict.
# --------------------------------------------------------------------------------------------------
class Config(BaseModel):
    name: str
    options: dict[str, int]


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int


IMPOSSIBLE = [
    ("dict_str_x", params(filters=dict[str, int]), "$.properties.filters", "filters"),
    ("bare_dict", params(x=(dict, None)), "$.properties.x", "x"),
    ("any", params(value=Any), "$.properties.value", "value"),
    ("bare_list", params(items=list), "$.properties.items.items", "items"),
    ("array_without_items", {"type": "object", "properties": {"xs": {"type": "array"}}}, "$.properties.xs", "xs"),
    ("object_without_properties", {"type": "object", "properties": {"o": {"type": "object"}}}, "$.properties.o", "o"),
    ("nested_free_form", params(cfg=Config), "$.$defs.Config.properties.options", "cfg"),
    ("open_model", params(loose=Loose), "$.$defs.Loose", "loose"),
    ("open_root", Loose.model_json_schema(), "$", None),
    ("root_anyof", {"anyOf": [{"type": "object", "properties": {}}]}, "$", None),
    ("root_not_object", {"type": "string"}, "$", None),
    (
        "allof_conflict",
        {"type": "object", "properties": {"a": {"allOf": [{"type": "integer"}, {"type": "string"}]}}},
        "$.properties.a",
        "a",
    ),
    ("dangling_ref", {"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}, "$.properties.a", "a"),
    ("any_in_union", params(v=Union[int, Any]), "$.properties.v.anyOf[1]", "v"),
]


@pytest.mark.parametrize(("case", "schema", "path", "parameter"), IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_impossible_shapes_raise_naming_path_tool_and_parameter(
    case: str, schema: dict[str, Any], path: str, parameter: str | None
) -> None:
    before = copy.deepcopy(schema)
    with pytest.raises(StrictSchemaError) as info:
        to_strict_schema(schema, tool_name="search")
    err = info.value
    assert (err.path, err.tool_name, err.parameter) == (path, "search", parameter)
    assert "tool 'search'" in str(err) and path in str(err)
    if parameter:
        assert f"parameter '{parameter}'" in str(err)
    assert schema == before


def test_self_referencing_ref_with_siblings_raises_instead_of_looping() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"$ref": "#/$defs/A", "description": "loop"}},
    }
    with pytest.raises(StrictSchemaError, match="refers back to itself") as info:
        to_strict_schema(schema)
    assert info.value.path == "$.$defs.A"
    schema["$defs"] = {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A", "description": "loop"}}
    with pytest.raises(StrictSchemaError, match="refers back to itself"):
        to_strict_schema(schema)


# --------------------------------------------------------------------------------------------------
# OpenAI's limits.
# --------------------------------------------------------------------------------------------------
def nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(levels - 1):
        node = {"type": "object", "properties": {"n": node}, "required": ["n"]}
    return {"type": "object", "properties": {"n": node}, "required": ["n"]}


def test_nesting_limit_counts_levels_below_the_root() -> None:
    check_openai_strict(to_strict_schema(nested(11)))  # the root and 10 levels below it
    with pytest.raises(StrictSchemaError, match="10") as info:
        to_strict_schema(nested(12))
    assert info.value.parameter == "n" and info.value.path == "$" + ".properties.n" * 11


def test_property_limit() -> None:
    many = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(5000)}}
    assert len(to_strict_schema(many)["required"]) == 5000
    many["properties"]["one_more"] = {"type": "integer"}
    with pytest.raises(StrictSchemaError, match="5000"):
        to_strict_schema(many)


def test_enum_limits() -> None:
    def enums(*sizes: int, width: int = 1) -> dict[str, Any]:
        props = {f"e{i}": {"enum": [str(v).zfill(width) for v in range(n)]} for i, n in enumerate(sizes)}
        return {"type": "object", "properties": props}

    to_strict_schema(enums(600, 400))
    with pytest.raises(StrictSchemaError, match="1000 enum values") as info:
        to_strict_schema(enums(600, 401))
    assert info.value.parameter == "e1"
    with pytest.raises(StrictSchemaError, match="15000 characters"):
        to_strict_schema(enums(300, width=60))


# --------------------------------------------------------------------------------------------------
# tool_definitions: the request's tools field.
# --------------------------------------------------------------------------------------------------
def echo(**kwargs: Any) -> dict[str, Any]:
    """A tool function that returns its arguments."""
    return kwargs


def make_tool(name: str, schema: dict[str, Any], strict: bool | None = None) -> Tool:
    tool = Tool(name=name, description=f"The {name} tool.", parameters=schema, function=echo)
    if strict is not None:
        tool.strict = strict  # type: ignore[attr-defined]  # as FunctionTool(strict=...) carries it
    return tool


def test_tool_definitions_strict_and_non_strict() -> None:
    schema = params(city=str, days=(int, 3))
    before = copy.deepcopy(schema)
    tool = make_tool("weather", schema)
    spec = copy.deepcopy(tool.to_dict())

    [strict] = tool_definitions([tool], strict=True)
    assert strict == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather tool.",
            "parameters": to_strict_schema(schema),
            "strict": True,
        },
    }
    [loose] = tool_definitions([tool], strict=False)
    assert loose == {"type": "function", "function": {"name": "weather", "description": "The weather tool.",
                                                      "parameters": before}}  # fmt: skip
    assert "strict" not in loose["function"]
    assert tool.parameters == before and tool.to_dict() == spec
    loose["function"]["parameters"]["properties"].clear()
    assert tool.parameters == before  # the definition is a copy, not the tool's own dict


def test_tool_marked_strict_false_is_sent_non_strict_and_true_always_strict() -> None:
    free = make_tool("free", params(filters=dict[str, int]), strict=False)
    own = make_tool("own", params(q=str), strict=True)
    plain = make_tool("plain", params(q=str))
    by_name = {d["function"]["name"]: d["function"] for d in tool_definitions([free, own, plain], strict=True)}
    assert "strict" not in by_name["free"] and by_name["free"]["parameters"] == free.parameters
    assert by_name["own"]["strict"] is True and by_name["plain"]["strict"] is True
    by_name = {d["function"]["name"]: d["function"] for d in tool_definitions([free, own, plain], strict=False)}
    assert by_name["own"]["strict"] is True and by_name["own"]["parameters"]["additionalProperties"] is False
    assert "strict" not in by_name["plain"] and "strict" not in by_name["free"]


def test_tool_definitions_error_names_tool_and_parameter() -> None:
    good = make_tool("good", params(q=str))
    bad = make_tool("search", params(q=str, filters=(dict[str, int], None)))
    with pytest.raises(StrictSchemaError) as info:
        tool_definitions([good, bad], strict=True)
    assert (info.value.tool_name, info.value.parameter) == ("search", "filters")
    assert "tool 'search'" in str(info.value) and "parameter 'filters'" in str(info.value)


def test_tool_limit_and_duplicate_names() -> None:
    tools = [make_tool(f"t{i}", params()) for i in range(MAX_TOOLS)]
    assert MAX_TOOLS == 128 and len(tool_definitions(tools, strict=True)) == 128
    with pytest.raises(ValueError, match="at most 128 tools"):
        tool_definitions([*tools, make_tool("extra", params())], strict=False)
    with pytest.raises(ValueError, match="Duplicate tool names: t1"):
        tool_definitions([tools[1], tools[1]], strict=False)
    assert tool_definitions([], strict=True) == []


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count real conversions (the names of the tools converted), starting from an empty cache."""
    calls: list[str] = []
    real = strict_module.tool_parameters_for

    def counting(schema: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(str(kwargs["tool_name"]))
        return real(schema, **kwargs)

    monkeypatch.setattr(strict_module, "tool_parameters_for", counting)
    monkeypatch.setattr(strict_module, "_cache", type(strict_module._cache)())
    return calls


def test_strict_schemas_are_converted_once_and_handed_out_as_copies(conversions: list[str]) -> None:
    tool = make_tool("weather", params(city=str, days=(int, 3)))
    first = tool_definitions([tool], strict=True)
    for _ in range(3):
        assert tool_definitions([tool], strict=True) == first
    assert conversions == ["weather"]
    first[0]["function"]["parameters"]["properties"].clear()  # what the caller does to its copy ...
    [again] = tool_definitions([tool], strict=True)
    assert set(again["function"]["parameters"]["properties"]) == {"city", "days"}  # ... never reaches the cache
    assert again["function"]["parameters"] == to_strict_schema(tool.parameters)


def test_a_schema_edited_in_place_is_converted_again(conversions: list[str]) -> None:
    tool = make_tool("weather", params(city=str))
    tool_definitions([tool], strict=True)
    tool.parameters["properties"]["days"] = {"type": "integer"}  # edited in place between two requests
    [after] = tool_definitions([tool], strict=True)
    assert after["function"]["parameters"]["required"] == ["city", "days"]
    tool.parameters["properties"]["city"] = {"enum": [1, 2]}
    tool_definitions([tool], strict=True)
    tool.parameters["properties"]["city"]["enum"][0] = True  # [1, 2] -> [true, 2]: equal by ==, not as JSON
    [edited] = tool_definitions([tool], strict=True)
    assert edited["function"]["parameters"]["properties"]["city"]["enum"][0] is True
    tool.parameters = params(q=str)  # replaced: another dict, another entry
    [replaced] = tool_definitions([tool], strict=True)
    assert list(replaced["function"]["parameters"]["properties"]) == ["q"]
    assert conversions == ["weather"] * 5


def test_schema_cache_is_bounded_and_keeps_its_keys_alive(conversions: list[str]) -> None:
    size = strict_module.CACHE_SIZE
    tools = [make_tool(f"t{i}", params(q=str)) for i in range(size + 10)]
    for i in range(0, len(tools), MAX_TOOLS):
        tool_definitions(tools[i : i + MAX_TOOLS], strict=True)
    assert len(strict_module._cache) == size
    # each entry holds its parameters dict, so no other dict can take over its id while it is cached
    assert all(id(entry[0]) == key[0] for key, entry in strict_module._cache.items())
    tool_definitions([tools[-1]], strict=True)  # recent: still cached
    tool_definitions([tools[0]], strict=True)  # least recently used: dropped, converted again
    assert conversions.count("t0") == 2 and conversions.count(f"t{size + 9}") == 1


def test_schema_cache_under_concurrent_requests(conversions: list[str]) -> None:
    tools = [make_tool(f"t{i}", params(**{f"p{i}": (int, i)})) for i in range(20)]
    expected = [to_strict_schema(t.parameters) for t in tools]

    def request(_: int) -> list[dict[str, Any]]:
        return [d["function"]["parameters"] for d in tool_definitions(tools, strict=True)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(request, range(40)))
    assert all(result == expected for result in results)
    assert len({id(schema) for result in results for schema in result}) == 20 * 40  # every one a copy


# --------------------------------------------------------------------------------------------------
# The battery again, from real functions through aiml_agent.tools.create_tool: every type the tools
# take, sent strict through a real request, answered the way strict mode makes a model answer (every
# property present, null for the optional ones), and invoked: null means the Python default, nested too.
# --------------------------------------------------------------------------------------------------
def fn_scalars(city: str, days: int = 3, metric: bool = True, ratio: float | None = None) -> dict[str, Any]:
    """Forecast.

    Args:
        city: The city.
        days: How many days.
    """
    return locals()


def fn_choices(unit: Literal["c", "f"] = "c", color: Color = Color.RED, prio: Priority | None = None) -> dict[str, Any]:
    """Choices."""
    return locals()


def fn_models(person: Person, people: list[Person] | None = None, point: Point | None = None) -> dict[str, Any]:
    """Models and dataclasses."""
    return locals()


def fn_structures(
    movie: Movie, tree: TreeNode, tags: set[str], pair: tuple[float, float] = (0.0, 0.0)
) -> dict[str, Any]:
    """TypedDict, recursion, sets, tuples."""
    return locals()


def fn_dates(when: dt.datetime, day: dt.date | None = None, span: dt.timedelta | None = None) -> dict[str, Any]:
    """Dates."""
    return locals()


def fn_unions(
    value: int | str, shape: Address | Point, pet: Pet, q: Annotated[str, Field(min_length=2)] = "ab"
) -> dict[str, Any]:
    """Unions."""
    return locals()


def fn_free_form(query: str, filters: dict[str, int] | None = None) -> str:
    """A parameter strict mode cannot express."""
    return query


FUNCTIONS = [fn_scalars, fn_choices, fn_models, fn_structures, fn_dates, fn_unions]

# (function, arguments as a strict model sends them, what the function receives)
NULL_MEANS_DEFAULT: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
    (fn_scalars, {"city": "Oslo", "days": None, "metric": None, "ratio": None},
     {"city": "Oslo", "days": 3, "metric": True, "ratio": None}),
    (fn_choices, {"unit": None, "color": None, "prio": None}, {"unit": "c", "color": Color.RED, "prio": None}),
    (fn_models,
     {"person": {"name": "Ann", "home": {"street": "Main", "city": None, "zip_code": None}, "work": None,
                 "tags": None},
      "people": [{"name": "Bo", "home": {"street": "S", "city": "Rome", "zip_code": None},
                  "work": {"street": "W", "city": None, "zip_code": "1"}, "tags": ["a"]}],
      "point": {"x": 1.5, "y": None}},
     {"person": Person(name="Ann", home=Address(street="Main")),
      "people": [Person(name="Bo", home=Address(street="S", city="Rome"), work=Address(street="W", zip_code="1"),
                        tags={"a"})],
      "point": Point(1.5, 0.0)}),
    (fn_structures,
     {"movie": {"title": "Up", "year": None}, "tree": {"value": 1, "children": [{"value": 2, "children": None}]},
      "tags": ["a", "a"], "pair": None},
     {"movie": {"title": "Up"}, "tree": TreeNode(value=1, children=[TreeNode(value=2)]), "tags": {"a"},
      "pair": (0.0, 0.0)}),
    (fn_dates, {"when": "2024-01-02T03:04:05", "day": None, "span": None},
     {"when": dt.datetime(2024, 1, 2, 3, 4, 5), "day": None, "span": None}),
    (fn_unions, {"value": "x", "shape": {"x": 1, "y": None}, "pet": {"pet": {"kind": "cat", "lives": None}}, "q": None},
     {"value": "x", "shape": Point(1.0, 0.0), "pet": Pet(pet=Cat(kind="cat")), "q": "ab"}),
]  # fmt: skip


def test_battery_of_real_functions_covers_every_function() -> None:
    assert [case[0] for case in NULL_MEANS_DEFAULT] == FUNCTIONS


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda f: f.__name__)
def test_battery_of_real_functions_passes_the_openai_checker(func: Any) -> None:
    tool = create_tool(func)
    before = copy.deepcopy(tool.parameters)
    [definition] = tool_definitions([tool], strict=True)
    strict = definition["function"]["parameters"]
    check_openai_strict(strict)
    assert definition["function"]["strict"] is True and tool.parameters == before
    assert strict["required"] == list(before["properties"])
    assert not keyword_values(strict, "default") and not keyword_values(strict, "title")


def test_real_functions_sent_strict_null_means_the_python_default_end_to_end() -> None:
    tools = [create_tool(func) for func, _, _ in NULL_MEANS_DEFAULT]
    before = [copy.deepcopy(t.parameters) for t in tools]
    calls = [ToolCallReply(func.__name__, arguments) for func, arguments, _ in NULL_MEANS_DEFAULT]
    with ScriptedServer([Reply(tool_calls=calls)]) as server:
        generator = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"), api_base_url=server.base_url,
                                         tools=tools, tools_strict=True, max_retries=0)  # fmt: skip
        [reply] = generator.run([ChatMessage.from_user("go")])["replies"]
    sent = {t["function"]["name"]: t["function"] for t in server.requests[0].body["tools"]}
    by_name = {t.name: t for t in tools}
    for call, (func, _, received) in zip(reply.tool_calls, NULL_MEANS_DEFAULT, strict=True):
        jsonschema.validate(call.arguments, sent[func.__name__]["parameters"])  # what strict mode allows
        assert by_name[call.tool_name].invoke(**call.arguments) == received, func.__name__
    assert [t.parameters for t in tools] == before


def test_real_function_that_cannot_be_strict_names_tool_and_parameter() -> None:
    with pytest.raises(StrictSchemaError) as info:
        tool_definitions([create_tool(fn_free_form)], strict=True)
    assert (info.value.tool_name, info.value.parameter) == ("fn_free_form", "filters")
    [definition] = tool_definitions([create_tool(fn_free_form, strict=False)], strict=True)
    assert "strict" not in definition["function"]


def test_strict_module_loads_without_haystack() -> None:
    import subprocess
    import sys

    code = "import sys, aiml_agent.strict, aiml_agent._provider_schemas, aiml_agent.cli.tools; print('haystack' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
