"""Strict tools: optional and nested pydantic parameters, sent with ``tools_strict=True``.

In strict mode the model's arguments always match the schema. OpenAI requires every property to be listed
as required there, so an optional parameter becomes "required but nullable" (and loses its default). This
library takes ``null`` for such a parameter to mean "use the Python default", so the function below gets
``express=False`` when the model sends ``"express": null``.

    python examples/strict_tools.py     # no key: replays cassettes/examples/strict_tools.yaml
    AIMLAPI_API_KEY=... python examples/strict_tools.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import json

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session
from pydantic import BaseModel, Field

from aiml_agent import Agent, AIMLAPIChatGenerator, to_strict_schema, tool


class Address(BaseModel):
    street: str
    city: str
    postcode: str | None = Field(None, description="Leave null when the user did not give one.")


class OrderLine(BaseModel):
    sku: str = Field(description="Product code, e.g. BOOK-42.")
    quantity: int = Field(ge=1)


@tool
def place_order(
    customer: str, items: list[OrderLine], ship_to: Address, gift_note: str | None = None, express: bool = False
) -> str:
    """Place an order for a customer.

    Args:
        customer: The customer's full name.
        items: What to order.
        ship_to: The delivery address.
        gift_note: A note to print on the packing slip, if the user asked for one.
        express: Next-day delivery (costs extra); only when the user asks for it.
    """
    print(
        f"  place_order called with: gift_note={gift_note!r}, express={express!r}, "
        f"ship_to={ship_to!r}, items={[f'{line.quantity} x {line.sku}' for line in items]}"
    )
    return f"ORD-0001 placed for {customer}: {len(items)} lines, {'express' if express else 'standard'} shipping"


def main() -> None:
    schema = to_strict_schema(place_order.parameters, tool_name=place_order.name)
    print('place_order is sent as {"type": "function", "function": {..., "strict": true, "parameters": <schema>}};')
    print("the strict schema: every property required, optional ones nullable, no defaults, objects closed:")
    for name, prop in schema["properties"].items():
        print(f"  {name}: {json.dumps(prop)}")
    print(f"  required: {schema['required']}, additionalProperties: {schema['additionalProperties']}")
    for name, definition in schema.get("$defs", {}).items():
        print(f"  $defs.{name}: {json.dumps(definition)}")

    request = "Order 2 copies of BOOK-42 and one PEN-7 for Ada Lovelace, to 12 Rue de Rivoli, Paris."
    print(f"\nYou: {request}")
    with example_session("strict_tools") as api_base_url:
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[place_order],
            tools_strict=True,
        )
        result = agent.run(request)

    for step in result["steps"]:
        for call in step.tool_calls:
            print(f"  the model sent: {json.dumps(call.arguments)}")
            nulls = [name for name, value in call.arguments.items() if value is None]
            if nulls:
                print(f"  null for {', '.join(nulls)}: the function got its Python default instead")
    print(f"\nAssistant: {result['last_message'].text}")


if __name__ == "__main__":
    main()
