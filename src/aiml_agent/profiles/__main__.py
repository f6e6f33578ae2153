"""``python -m aiml_agent.profiles MODELS_JSON``: print the compact catalogue made from a saved model list.

The embedded ``catalogue.json`` is made this way from AIMLAPI's documentation snapshot; a saved ``GET /models``
answer (either shape) works too.
"""

from __future__ import annotations

import json
import sys

from aiml_agent.profiles._catalogue import Catalogue, parse_models


def main(argv: list[str]) -> int:
    """Print the compact catalogue made from a ``GET /models`` answer or a documentation snapshot file."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m aiml_agent.profiles MODELS_JSON\n")
        return 2
    with open(argv[0], encoding="utf-8") as file:
        raw = json.load(file)
    catalogue = Catalogue(parse_models(raw), source="embedded")
    data = catalogue.to_json()
    if isinstance(raw, dict):
        data["snapshot"] = {
            key: raw[key] for key in ("source", "retrieved_from", "commit", "commit_date") if key in raw
        }
    lines = ",\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in data.pop("models"))
    head = json.dumps(data, ensure_ascii=False, indent=1)[:-2]
    sys.stdout.write(f'{head},\n "models": [\n{lines}\n ]\n}}\n')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
