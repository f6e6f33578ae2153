"""A to-do list assistant: ``Toolset.from_object`` turns each public method of an object into a tool.

The tools call the bound methods of this very object, so they share its state: after the run, the list holds
what the model put in it. Private methods (``_save``) are not tools.

    python examples/toolset_from_class.py     # no key: replays cassettes/examples/toolset_from_class.yaml
    AIMLAPI_API_KEY=... python examples/toolset_from_class.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session

from aiml_agent import Agent, AIMLAPIChatGenerator, Toolset


@dataclass
class Item:
    id: int
    title: str
    due: str | None = None
    done: bool = False


@dataclass
class TodoList:
    """A small in-memory to-do list; its public methods become the assistant's tools."""

    items: dict[int, Item] = field(default_factory=dict)

    def add(self, title: str, due: str | None = None) -> Item:
        """Add an item to the to-do list.

        Args:
            title: What to do.
            due: When it is due, in the user's words (e.g. "Friday"); leave empty if not said.
        """
        item = Item(id=len(self.items) + 1, title=title, due=due)
        self.items[item.id] = item
        return item

    def complete(self, item_id: int) -> str:
        """Mark an item as done.

        Args:
            item_id: The id `add` or `list_items` gave the item.
        """
        if item_id not in self.items:
            raise KeyError(f"No item {item_id}; ids: {sorted(self.items)}")  # the model is told, and can retry
        self.items[item_id].done = True
        return f"Item {item_id} done."

    def list_items(self) -> list[Item]:
        """List all items with their id, due date and whether they are done."""
        return list(self.items.values())

    def _save(self) -> None:  # private: not a tool
        ...


def main() -> None:
    todos = TodoList()
    toolset = Toolset.from_object(todos)
    print("tools:", ", ".join(t.name for t in toolset), "\n")

    request = "Add 'buy milk' and 'book the dentist' (by Friday) to my list, tick off the milk, then show me the list."
    with example_session("toolset_from_class") as api_base_url:
        # The calls of one model turn normally run concurrently; these tools share the list and item ids
        # follow the order of the calls, so run them one at a time, in call order.
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=toolset,
            tool_concurrency=1,
        )
        result = agent.run(request)

    for step in result["steps"]:
        for call in step.tool_calls:
            print(f"  step {step.index}: {call.tool_name}({json.dumps(call.arguments)}) -> {call.result}")
    print(f"\nAssistant: {result['last_message'].text}\n")
    print("The object's state after the run:")
    for item in todos.items.values():
        print(f"  [{'x' if item.done else ' '}] {item.id}. {item.title}" + (f" (due {item.due})" if item.due else ""))


if __name__ == "__main__":
    main()
