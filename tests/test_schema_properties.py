"""Property-based: random JSON schemas through every dialect either raise StrictSchemaError or follow the
provider's rules (checked by tests/schema_rules.py) and still accept every instance the input accepted
(with ``null`` for the optional properties the instance left out, as a strict-mode model sends them).

Schemas are drawn from a grammar that knows how to draw valid instances of what it makes: objects (closed or
not, optional properties, property names that look like keywords), arrays, unions, ``oneOf``, references (plain,
with siblings, through ``allOf``, draft-07 ``definitions``, a recursive definition), enums, consts, formats,
patterns simple and not, bounds, and annotations (``title``, ``default``, ``examples``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import jsonschema
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schema_rules import check_anthropic_strict, check_gemini, check_openai_strict, is_recursive

from aiml_agent._provider_schemas import tool_parameters_for
from aiml_agent.errors import StrictSchemaError

Pair = tuple[Any, Any]  # an instance, and the same as a strict-mode model would send it


@dataclass(frozen=True)
class Shape:
    schema: dict[str, Any]
    values: st.SearchStrategy[Pair]


def same(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Pair]:
    return values.map(lambda value: (value, value))


PATTERNS = [(r"^[a-z]+$", ["abc", "z"]), (r"^\d{3}$", ["123"]), (r"^(?!0)\d+$", ["12", "9"]), (r"(a)\1", ["aa"]),
            (r"\bcat\b", ["a cat"])]  # fmt: skip
FORMATS = [("date-time", "2024-01-02T03:04:05Z"), ("date", "2024-01-02"), ("uri", "https://x.test/a"),
           ("email", "a@b.co"), ("uuid", "0b4c1f4e-8f1e-4a4b-9a53-8a9f0a0c0d0e"), ("binary", "AAEC")]  # fmt: skip
NAMES = ["a", "b", "c", "title", "type", "properties", "default", "$ref", "required"]


def scalars() -> st.SearchStrategy[Shape]:
    def integer(low: int, span: int, exclusive: bool) -> Shape:
        bound = {"exclusiveMinimum": low - 1} if exclusive else {"minimum": low}
        return Shape({"type": "integer", **bound, "maximum": low + span}, same(st.integers(low, low + span)))

    def text(low: int) -> Shape:
        return Shape({"type": "string", "minLength": low, "maxLength": low + 3}, same(st.text("xyz", min_size=low, max_size=low + 3)))  # fmt: skip

    return st.one_of(
        st.builds(integer, st.integers(-5, 5), st.integers(0, 10), st.booleans()),
        st.just(Shape({"type": "number", "multipleOf": 0.5}, same(st.integers(-4, 4).map(lambda n: n / 2)))),
        st.just(Shape({"type": "boolean"}, same(st.booleans()))),
        st.just(Shape({"type": "null"}, same(st.none()))),
        st.builds(text, st.integers(0, 3)),
        st.sampled_from(PATTERNS).map(
            lambda p: Shape({"type": "string", "pattern": p[0]}, same(st.sampled_from(p[1])))
        ),
        st.sampled_from(FORMATS).map(lambda f: Shape({"type": "string", "format": f[0]}, same(st.just(f[1])))),
        st.lists(st.sampled_from(["red", "green", 1, 2.5, True, None]), min_size=1, max_size=3, unique=True).map(
            lambda values: Shape({"enum": values}, same(st.sampled_from(values)))
        ),
        st.sampled_from(["k", 3, False]).map(lambda value: Shape({"const": value}, same(st.just(value)))),
        st.just(Shape({"type": ["string", "null"]}, same(st.one_of(st.none(), st.text("ab", max_size=2))))),
        st.just(Shape({"type": "string", "nullable": True}, same(st.one_of(st.none(), st.just("n"))))),
    )


ANNOTATIONS = st.fixed_dictionaries(
    {},
    optional={
        "title": st.just("T"),
        "description": st.sampled_from(["D", "A (b)"]),
        "default": st.none(),
        "examples": st.just([{"title": "x"}]),
        "$comment": st.just("c"),
    },
)


def annotated(shapes: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    return st.tuples(shapes, ANNOTATIONS).map(lambda pair: Shape({**pair[0].schema, **pair[1]}, pair[0].values))


def objects(children: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    @st.composite
    def build(draw: st.DrawFn) -> Shape:
        fields = draw(
            st.lists(
                st.tuples(st.sampled_from(NAMES), children, st.booleans()),
                min_size=1,
                max_size=4,
                unique_by=lambda field: field[0],
            )
        )
        schema: dict[str, Any] = {"type": "object", "properties": {name: s.schema for name, s, _ in fields}}
        schema["required"] = [name for name, _, required in fields if required]
        if draw(st.booleans()):
            schema["additionalProperties"] = False

        @st.composite
        def values(draw_value: st.DrawFn) -> Pair:
            instance, strict = {}, {}
            for name, shape, required in fields:
                if required or draw_value(st.booleans()):
                    instance[name], strict[name] = draw_value(shape.values)
                else:
                    strict[name] = None  # left out: a strict-mode model sends null
            return instance, strict

        return Shape(schema, values())

    return build()


def arrays(children: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    def array(item: Shape, least: int) -> Shape:
        pairs = st.lists(item.values, min_size=least, max_size=3)
        return Shape({"type": "array", "items": item.schema, "minItems": least},
                     pairs.map(lambda ps: ([p[0] for p in ps], [p[1] for p in ps])))  # fmt: skip

    return st.builds(array, children, st.integers(0, 2))


def unions(children: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    def union(branches: list[Shape], keyword: str) -> Shape:
        return Shape({keyword: [b.schema for b in branches]}, st.one_of([b.values for b in branches]))

    return st.builds(union, st.lists(children, min_size=2, max_size=3), st.sampled_from(["anyOf", "oneOf"]))


SCALARS = scalars()
PLAIN = st.recursive(SCALARS, lambda kids: st.one_of(objects(kids), arrays(kids)), max_leaves=3)


@dataclass(frozen=True)
class Definitions:
    section: str  # "$defs", or draft-07 "definitions"
    shapes: dict[str, Shape]

    def ref(self, name: str) -> str:
        return f"#/{self.section}/{name}"


def references(defs: Definitions) -> st.SearchStrategy[Shape]:
    def reference(name: str, form: str) -> Shape:
        ref, values = defs.ref(name), defs.shapes[name].values
        schema = {
            "plain": {"$ref": ref},
            "siblings": {"$ref": ref, "description": "Here.", "title": "X"},
            "allOf": {"allOf": [{"$ref": ref}]},
            "allOf_siblings": {"allOf": [{"$ref": ref}, {"description": "There."}], "title": "Y"},
        }[form]
        return Shape(schema, values)

    return st.builds(reference, st.sampled_from(sorted(defs.shapes)), st.sampled_from(["plain", "siblings", "allOf", "allOf_siblings"]))  # fmt: skip


def tree(section: str) -> Shape:
    """A recursive definition: a node with a value and children of its own kind."""
    node = {"type": "object", "properties": {"value": {"type": "integer"},
            "children": {"type": "array", "items": {"$ref": f"#/{section}/Tree"}}}, "required": ["value"]}  # fmt: skip

    def grow(children: st.SearchStrategy[Pair]) -> st.SearchStrategy[Pair]:
        return st.tuples(st.integers(0, 9), st.lists(children, max_size=2)).map(
            lambda vc: (
                {"value": vc[0], "children": [c[0] for c in vc[1]]},
                {"value": vc[0], "children": [c[1] for c in vc[1]]},
            )
        )

    leaf = st.integers(0, 9).map(lambda v: ({"value": v}, {"value": v, "children": None}))
    return Shape(node, st.recursive(leaf, grow, max_leaves=4))


@st.composite
def tool_schemas(draw: st.DrawFn) -> tuple[dict[str, Any], st.SearchStrategy[Pair]]:
    section = draw(st.sampled_from(["$defs", "definitions"]))
    shapes = {f"D{i}": shape for i, shape in enumerate(draw(st.lists(PLAIN, max_size=3)))}
    if draw(st.booleans()):
        shapes["Tree"] = tree(section)
    defs = Definitions(section, shapes)
    leaves = st.one_of(SCALARS, references(defs)) if shapes else SCALARS
    nodes = st.recursive(
        annotated(leaves), lambda kids: annotated(st.one_of(objects(kids), arrays(kids), unions(kids))), max_leaves=6
    )
    root = draw(objects(nodes))
    schema = {**root.schema, **({section: {name: s.schema for name, s in shapes.items()}} if shapes else {})}
    return schema, root.values


def accepted(instance: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def openapi_nullable(node: Any) -> Any:
    """Gemini's ``nullable`` written as JSON Schema, so that jsonschema can validate against it."""
    if isinstance(node, list):
        return [openapi_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: openapi_nullable(v) if k in ("items", "anyOf") else v for k, v in node.items() if k != "nullable"}
    if "properties" in node:
        converted["properties"] = {name: openapi_nullable(sub) for name, sub in node["properties"].items()}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


def convert(schema: dict[str, Any], dialect: Any) -> tuple[dict[str, Any] | None, str]:
    """The dialect's schema (None when it raised) and the error's reason."""
    before = copy.deepcopy(schema)
    result, reason = None, ""
    try:
        result = tool_parameters_for(schema, dialect=dialect, strict=True, tool_name="t")
    except StrictSchemaError as error:
        event(f"{dialect}: StrictSchemaError ({error.reason[:40]})")
        assert error.tool_name == "t" and error.path.startswith("$")
        reason = error.reason
    assert schema == before, "input mutated"
    return result, reason


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_openai_and_anthropic_strict_follow_the_rules_and_accept_what_the_input_accepted(data: st.DataObject) -> None:
    schema, values = data.draw(tool_schemas())
    openai, reason = convert(schema, "openai")
    anthropic, _ = convert(schema, "anthropic")
    # the grammar makes no shape strict mode cannot express; only OpenAI's nesting limit can be exceeded
    assert openai is not None or "nested" in reason, reason
    if openai is not None:
        check_openai_strict(openai)
    if anthropic is not None:
        check_anthropic_strict(anthropic)
    else:
        assert openai is None or is_recursive(openai), "Anthropic refused a schema that is not recursive"
    for _ in range(3):
        instance, strict_instance = data.draw(values)
        if not accepted(instance, schema):  # oneOf branches that overlap
            continue
        for result in (openai, anthropic):
            if result is not None:
                assert accepted(strict_instance, result), (instance, strict_instance)


@SETTINGS
@given(st.data())
def test_gemini_follows_its_rules_and_accepts_what_the_input_accepted(data: st.DataObject) -> None:
    schema, values = data.draw(tool_schemas())
    gemini, reason = convert(schema, "google")
    if gemini is None:
        assert "nested" in reason or "nodes" in reason, reason
        return
    check_gemini(gemini)
    validator = jsonschema.Draft202012Validator(openapi_nullable(gemini))
    for _ in range(3):
        instance, _ = data.draw(values)
        if accepted(instance, schema):
            assert validator.is_valid(instance), instance
