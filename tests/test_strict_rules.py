"""to_strict_schema exact on any schema: formats, patterns, $ref merging, draft-07, size and depth bounds, $id."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import jsonschema
import pytest
from pydantic import AnyUrl, BaseModel, Field, HttpUrl, create_model
from schema_rules import check_openai_strict, keyword_values

from aiml_agent._regex_subset import unsupported_regex
from aiml_agent._schema import remove_titles
from aiml_agent._schema_walker import MAX_JSON_DEPTH, MAX_NODES, MAX_REF_CHAIN
from aiml_agent.errors import StrictSchemaError
from aiml_agent.strict import OPENAI_FORMATS, to_strict_schema


def obj(required: bool = True, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties) if required else []}


def strict_and_checked(schema: dict[str, Any]) -> dict[str, Any]:
    before = copy.deepcopy(schema)
    result = to_strict_schema(schema, tool_name="t")
    assert schema == before, "input mutated"
    check_openai_strict(result)
    return result


# --------------------------------------------------------------------------------------------------
# format and pattern: only what strict mode compiles stays; the rest moves into the description.
# --------------------------------------------------------------------------------------------------
def test_url_parameters_lose_the_uri_format_to_the_description() -> None:
    schema = create_model("Params", homepage=(HttpUrl, ...), source=(AnyUrl | None, None)).model_json_schema()
    result = strict_and_checked(schema)
    homepage, source = result["properties"]["homepage"], result["properties"]["source"]
    assert "format" not in homepage and homepage["description"] == "format: uri, maxLength: 2083, minLength: 1"
    assert keyword_values(result, "format") == []
    assert "format: uri" in json.dumps(source)


@pytest.mark.parametrize("fmt", sorted(OPENAI_FORMATS))
def test_supported_formats_stay(fmt: str) -> None:
    result = strict_and_checked(obj(v={"type": "string", "format": fmt}))
    assert result["properties"]["v"] == {"type": "string", "format": fmt}


@pytest.mark.parametrize("fmt", ["uri", "uri-reference", "binary", "password", "int32", "regex", "iri"])
def test_unsupported_formats_move_into_the_description(fmt: str) -> None:
    result = strict_and_checked(obj(v={"type": "string", "format": fmt, "description": "A value."}))
    assert result["properties"]["v"] == {"type": "string", "description": f"A value. (format: {fmt})"}


def test_format_on_a_non_string_is_described() -> None:
    result = strict_and_checked(obj(n={"type": "integer", "format": "date"}))
    assert result["properties"]["n"] == {"type": "integer", "description": "format: date"}


SIMPLE_PATTERNS = [r"^[a-z]+$", r"^\d{3}-\d{4}$", r"^(?:ab|cd)*x?$", r"[^\]]+", r"a{2,1000}", r"^\w+@\w+\.\w{2,}$"]
COMPLEX_PATTERNS = [
    (r"^(?!0)\d+$", "lookaround"), (r"(?<=a)b", "lookaround"), (r"x(?=y)", "lookaround"), (r"(?<!a)b", "lookaround"),
    (r"(a)\1", "backreferences"), (r"(?P<x>a)(?P=x)", "named groups"), (r"\bword\b", "word boundaries"),
    (r"(?i)abc", "inline flags"), (r"a{1,5000}", "repetition counts above 1000"), (r"\p{L}+", "Unicode property"),
    (r"(?>a+)b", "atomic groups"), (r"[a-", "an invalid regular expression"), (r"\Aabc\Z", "anchors"),
]  # fmt: skip


@pytest.mark.parametrize("pattern", SIMPLE_PATTERNS)
def test_simple_patterns_stay(pattern: str) -> None:
    assert unsupported_regex(pattern) is None
    result = strict_and_checked(obj(v={"type": "string", "pattern": pattern}))
    assert result["properties"]["v"]["pattern"] == pattern


@pytest.mark.parametrize(("pattern", "feature"), COMPLEX_PATTERNS, ids=[p for p, _ in COMPLEX_PATTERNS])
def test_patterns_outside_the_subset_move_into_the_description(pattern: str, feature: str) -> None:
    assert (unsupported_regex(pattern) or "").startswith(feature)
    result = strict_and_checked(obj(v={"type": "string", "pattern": pattern}))
    assert result["properties"]["v"] == {"type": "string", "description": f"pattern: {pattern}"}


# --------------------------------------------------------------------------------------------------
# $ref and allOf with siblings: merged deeply; a real conflict raises.
# --------------------------------------------------------------------------------------------------
ADDRESS = {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
           "required": ["street"], "description": "An address."}  # fmt: skip


def test_ref_with_sibling_properties_and_required_keeps_both_sides() -> None:
    site = {"$ref": "#/$defs/Address", "properties": {"floor": {"type": "integer"}}, "required": ["floor"],
            "description": "Where to deliver."}  # fmt: skip
    schema = {**obj(to=site), "$defs": {"Address": ADDRESS}}
    result = strict_and_checked(schema)
    to = result["properties"]["to"]
    assert list(to["properties"]) == ["street", "city", "floor"] and to["description"] == "Where to deliver."
    assert to["properties"]["street"] == {"type": "string"} and to["properties"]["floor"] == {"type": "integer"}
    assert to["properties"]["city"] == {"type": ["string", "null"]}  # optional in the definition
    jsonschema.validate({"to": {"street": "Main", "floor": 3}}, schema)  # valid for the input schema ...
    jsonschema.validate({"to": {"street": "Main", "city": None, "floor": 3}}, result)  # ... and, null aside, strict
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"to": {"street": "Main", "city": None}}, result)  # floor is still required


def test_all_of_branches_merge_deeply_and_constraints_tighten() -> None:
    base = {"type": "object", "properties": {"id": {"type": "integer", "minimum": 0, "maximum": 100}},
            "required": ["id"]}  # fmt: skip
    named = {"properties": {"id": {"type": "integer", "minimum": 10}, "name": {"type": "string"}}, "required": ["name"]}
    schema = {**obj(item={"allOf": [{"$ref": "#/$defs/Base"}, named]}), "$defs": {"Base": base}}
    item = strict_and_checked(schema)["properties"]["item"]
    assert item["properties"]["id"] == {"type": "integer", "minimum": 10, "maximum": 100}
    assert item["properties"]["name"] == {"type": "string"} and item["required"] == ["id", "name"]


def test_merging_intersects_types_and_enums() -> None:
    schema = {
        **obj(
            n={"$ref": "#/$defs/Number", "type": "integer"},
            c={"$ref": "#/$defs/Colors", "enum": ["green", "blue", "pink"]},
        ),
        "$defs": {"Number": {"type": ["number", "null"]}, "Colors": {"enum": ["red", "green", "blue"]}},
    }  # fmt: skip
    result = strict_and_checked(schema)
    assert result["properties"]["n"] == {"type": "integer"}
    assert result["properties"]["c"] == {"enum": ["green", "blue"]}


CONFLICTS = [
    ("type", {"$ref": "#/$defs/S", "type": "integer"}, "'type' is \"string\" in one schema and \"integer\""),
    ("const", {"$ref": "#/$defs/K", "const": "b"}, "'const' is \"a\" in one schema and \"b\""),
    ("enum", {"allOf": [{"enum": [1, 2]}, {"enum": [3]}]}, "no value in common"),
    ("bounds", {"allOf": [{"type": "integer", "minimum": 5}, {"maximum": 3}]}, "minimum 5 and maximum 3"),
    ("const_enum", {"allOf": [{"enum": ["x", "y"]}, {"const": "z"}]}, "not one of the enum"),
    ("nested", {"$ref": "#/$defs/O", "properties": {"a": {"type": "string"}}}, "(at properties.a)"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "site", "reason"), CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_real_conflicts_raise_naming_the_path(case: str, site: dict[str, Any], reason: str) -> None:
    defs = {"S": {"type": "string"}, "K": {"const": "a"}, "O": obj(a={"type": "integer"})}
    with pytest.raises(StrictSchemaError, match="conflicting schemas") as info:
        to_strict_schema({**obj(v=site), "$defs": defs}, tool_name="t")
    assert (info.value.path, info.value.parameter, info.value.tool_name) == ("$.properties.v", "v", "t")
    assert reason in str(info.value)


# --------------------------------------------------------------------------------------------------
# Draft-07 definitions, $id resources, unused definitions.
# --------------------------------------------------------------------------------------------------
def test_draft_07_definitions_become_defs() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        **obj(a={"$ref": "#/definitions/A"}, b={"items": [{"$ref": "#/definitions/A"}, {"type": "integer"}]}),
        "definitions": {"A": {"type": "object", "properties": {"x": {"type": "string"}}}},
    }
    result = strict_and_checked(schema)
    assert "definitions" not in result and list(result["$defs"]) == ["A"]
    assert result["properties"]["a"] == {"$ref": "#/$defs/A"}
    assert result["properties"]["b"]["items"]["anyOf"][0] == {"$ref": "#/$defs/A"}
    jsonschema.validate({"a": {"x": None}, "b": [{"x": "1"}, 2]}, result)


def test_refs_resolve_against_their_own_id_resource() -> None:
    inner = {"$id": "https://example.test/inner.json", **obj(c={"$ref": "#/$defs/C"}, e={"$ref": "#flag"}),
             "$defs": {"C": {"type": "integer"}, "F": {"$anchor": "flag", "type": "boolean"}}}  # fmt: skip
    schema = {
        **obj(b=inner, d={"$ref": "https://example.test/inner.json#/$defs/C"}, s={"$ref": "#/$defs/C"}),
        "$defs": {"C": {"type": "string"}},
    }
    result = strict_and_checked(schema)
    defs = result["$defs"]
    assert defs[result["properties"]["b"]["properties"]["c"]["$ref"].rsplit("/", 1)[-1]] == {"type": "integer"}
    assert defs[result["properties"]["b"]["properties"]["e"]["$ref"].rsplit("/", 1)[-1]] == {"type": "boolean"}
    assert defs[result["properties"]["d"]["$ref"].rsplit("/", 1)[-1]] == {"type": "integer"}
    assert defs[result["properties"]["s"]["$ref"].rsplit("/", 1)[-1]] == {"type": "string"}  # the root's own C
    jsonschema.validate({"b": {"c": 1, "e": True}, "d": 2, "s": "x"}, result)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"b": {"c": "1", "e": True}, "d": 2, "s": "x"}, result)


def test_unused_definitions_are_dropped_and_used_ones_kept_once() -> None:
    schema = {**obj(a={"$ref": "#/$defs/Used"}, b={"$ref": "#/$defs/Used"}),
              "$defs": {"Used": {"type": "string"}, "Unused": {"type": "object"}, "Alias": {"$ref": "#/$defs/Used"}}}  # fmt: skip
    result = strict_and_checked(schema)
    assert result["$defs"] == {"Used": {"type": "string"}}  # "Unused" would not even be valid strict


def test_aliases_are_followed_to_what_they_stand_for() -> None:
    schema = {**obj(a={"$ref": "#/$defs/A"}), "$defs": {"A": {"$ref": "#/$defs/B", "title": "A"}, "B": {"type": "string"}}}  # fmt: skip
    assert strict_and_checked(schema) == {**obj(a={"$ref": "#/$defs/B"}), "additionalProperties": False,
                                          "$defs": {"B": {"type": "string"}}}  # fmt: skip


def test_definition_names_that_need_escaping_stay_resolvable() -> None:
    schema = {**obj(a={"$ref": "#/$defs/a~1b"}, c={"$ref": "#/$defs/100%25"}),
              "$defs": {"a/b": {"type": "string"}, "100%": {"type": "integer"}}}  # fmt: skip
    result = to_strict_schema(schema)
    assert set(result["$defs"]) == {"a/b", "100%"}
    jsonschema.validate({"a": "x", "c": 1}, result)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": "x", "c": "1"}, result)


def test_root_recursion_through_hash_is_kept() -> None:
    schema = {**obj(name={"type": "string"}, child={"anyOf": [{"$ref": "#"}, {"type": "null"}]})}
    result = strict_and_checked(schema)
    assert result["properties"]["child"]["anyOf"][0] == {"$ref": "#"}
    jsonschema.validate({"name": "a", "child": {"name": "b", "child": None}}, result)


# --------------------------------------------------------------------------------------------------
# Size and depth: bounded, and always a StrictSchemaError naming the path.
# --------------------------------------------------------------------------------------------------
def doubling_chain(levels: int) -> dict[str, Any]:
    """Each definition refers twice, with different descriptions, to the next: inlining doubles per level."""
    defs: dict[str, Any] = {
        f"D{i}": {"anyOf": [{"$ref": f"#/$defs/D{i + 1}", "description": "first"},
                            {"$ref": f"#/$defs/D{i + 1}", "description": "second"}]}
        for i in range(levels)
    }  # fmt: skip
    defs[f"D{levels}"] = {"type": "string"}
    return {**obj(root={"$ref": "#/$defs/D0"}), "$defs": defs}


@pytest.mark.parametrize("levels", [18, 30])
def test_ref_inlining_that_would_explode_shares_definitions_instead(levels: int) -> None:
    started = time.perf_counter()
    result = strict_and_checked(doubling_chain(levels))
    assert time.perf_counter() - started < 20  # inlining every reference: 17 s at 18 levels, no end at 30
    assert len(json.dumps(result)) < 300 * levels  # linear: one shared definition per (reference, siblings)
    valid = {"root": "leaf"}
    jsonschema.validate(valid, result)


def test_small_inlining_stays_inline() -> None:
    result = strict_and_checked(doubling_chain(3))
    assert list(result["$defs"]) == ["D0"]  # a plain reference stays one; those with siblings are spelled out
    assert json.dumps(result).count('"first"') == 7  # 1 + 2 + 4 copies: small enough to inline


def test_a_schema_too_large_even_when_shared_raises() -> None:
    schema = obj(v={"anyOf": [{"type": "string", "const": str(i)} for i in range(MAX_NODES + 1)]})
    with pytest.raises(StrictSchemaError, match=f"more than {MAX_NODES} nodes") as info:
        to_strict_schema(schema)
    assert info.value.parameter == "v"


def deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        node = {"type": "object", "properties": {"n": node}}
    return node


def test_very_deep_input_raises_naming_the_path() -> None:
    with pytest.raises(StrictSchemaError, match=f"nested more than {MAX_JSON_DEPTH} levels") as info:
        to_strict_schema(deep(250))
    assert info.value.path.startswith("$.properties.n.properties.n")


def test_a_long_chain_of_aliases_raises_naming_the_path() -> None:
    defs: dict[str, Any] = {f"A{i}": {"$ref": f"#/$defs/A{i + 1}"} for i in range(1000)}
    defs["A1000"] = {"type": "string"}
    with pytest.raises(StrictSchemaError, match=f"more than {MAX_REF_CHAIN} \\$ref") as info:
        to_strict_schema({**obj(x={"$ref": "#/$defs/A0"}), "$defs": defs})
    assert (info.value.path, info.value.parameter) == ("$.properties.x", "x")
    defs = {f"A{i}": {"$ref": f"#/$defs/A{i + 1}"} for i in range(5)}
    defs["A5"] = {"type": "string"}
    assert strict_and_checked({**obj(x={"$ref": "#/$defs/A0"}), "$defs": defs})["$defs"] == {"A5": {"type": "string"}}


@pytest.mark.parametrize("schema", [[], "object", None, 3, True], ids=repr)
def test_a_schema_that_is_not_an_object_raises(schema: Any) -> None:
    with pytest.raises(StrictSchemaError, match="must be a JSON object") as info:
        to_strict_schema(schema, tool_name="t")
    assert info.value.path == "$"


def test_non_schema_values_inside_raise_naming_the_path() -> None:
    with pytest.raises(StrictSchemaError, match="not a list") as info:
        to_strict_schema(obj(a={"type": "array", "items": {"anyOf": [["x"]]}}))
    assert info.value.path == "$.properties.a.items.anyOf[0]"
    with pytest.raises(StrictSchemaError, match="unknown type 'str'"):
        to_strict_schema(obj(a={"type": "str"}))
    for bad, reason in (({"type": {"x": 1}}, "unknown type"), ({"enum": "x"}, "'enum' must be a list, not a string"),
                        ({"type": "object", "properties": [], "additionalProperties": False}, "'properties' must be an object"),
                        ({"type": "object", "properties": {}, "required": True}, "'required' must be a list")):  # fmt: skip
        with pytest.raises(StrictSchemaError, match=reason) as info:
            to_strict_schema(obj(a=bad))
        assert info.value.path == "$.properties.a"


# --------------------------------------------------------------------------------------------------
# Keywords that do not apply, null-valued keywords, OpenAPI's nullable.
# --------------------------------------------------------------------------------------------------
def test_object_and_array_keywords_on_other_types_are_removed() -> None:
    schema = obj(
        s={"type": "string", "properties": {}, "additionalProperties": True, "required": ["x"], "items": {}},
        n={"type": "integer", "minLength": 2, "maximum": 5, "pattern": "^a$"},
    )
    result = strict_and_checked(schema)
    assert result["properties"]["s"] == {"type": "string"}
    assert result["properties"]["n"] == {"type": "integer", "maximum": 5}


def test_null_valued_keywords_are_ignored_but_const_null_is_kept() -> None:
    schema = obj(p={"type": "boolean", "enum": None, "minimum": None, "items": None, "properties": None},
                 z={"const": None})  # fmt: skip
    result = strict_and_checked(schema)
    assert result["properties"] == {"p": {"type": "boolean"}, "z": {"const": None}}


def test_openapi_nullable_becomes_a_null_type() -> None:
    result = strict_and_checked(obj(a={"type": "string", "nullable": True}, b={"type": "string", "nullable": False}))
    assert result["properties"] == {"a": {"type": ["string", "null"]}, "b": {"type": "string"}}


# --------------------------------------------------------------------------------------------------
# Titles: removed as keywords only, never from data values.
# --------------------------------------------------------------------------------------------------
class Book(BaseModel):
    title: str = Field(examples=[{"title": "Dune"}], description="The book's title.")
    meta: dict[str, str] = Field(default={"title": "x"}, json_schema_extra={"example": {"title": "Dune"}})


def test_remove_titles_keeps_title_keys_inside_data_values() -> None:
    schema = create_model("Params", book=(Book, ...), pick=(str, Field(json_schema_extra={"enum": [{"title": 1}]}))).model_json_schema()  # fmt: skip
    remove_titles(schema)
    book = schema["$defs"]["Book"]
    assert "title" not in book and "title" not in book["properties"]["title"] and "title" in book["properties"]
    assert book["properties"]["title"]["examples"] == [{"title": "Dune"}]
    assert book["properties"]["meta"]["example"] == {"title": "Dune"}
    assert book["properties"]["meta"]["default"] == {"title": "x"}
    assert schema["properties"]["pick"]["enum"] == [{"title": 1}]


def test_strict_conversion_keeps_title_keys_inside_moved_examples() -> None:
    result = to_strict_schema(obj(t={"type": "string", "title": "T", "examples": [{"title": "Dune"}]}))
    assert result["properties"]["t"] == {"type": "string", "description": 'examples: [{"title": "Dune"}]'}
