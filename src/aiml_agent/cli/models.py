"""``aiml-agent models``: list the models behind AIMLAPI and what each accepts (tools, strict, formats, roles)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aiml_agent.cli._shared import CLIError, Style, add_debug

_COLUMNS = (
    ("TOOLS", "supports_tools"),
    ("STRICT", "supports_strict_tools"),
    ("FORMAT", "supports_response_format"),
    ("SYSTEM", "supports_system_role"),
    ("PARALLEL", "supports_parallel_tool_calls"),
)


def add_parser(commands: Any) -> None:
    """Add ``models`` to the command line's subparsers."""
    models = commands.add_parser(
        "models",
        help="list the models and what each accepts",
        description="List AIMLAPI's chat models with what each accepts: tools, strict tools, response_format, "
        "a system role, parallel_tool_calls. From the catalogue in force: refreshed, cached, or the snapshot "
        "embedded in aiml-agent.",
    )
    models.add_argument("--family", metavar="F", help="only models of family F (openai, anthropic, google, ...)")
    models.add_argument("--tools", action="store_true", help="only models with tool calling")
    models.add_argument("--json", action="store_true", help="print the models and their profiles as JSON")
    models.add_argument(
        "--refresh", action="store_true", help="fetch AIMLAPI's model list first (no key needed) and cache it"
    )
    models.add_argument(
        "--base-url", metavar="URL", help="with --refresh: the API base URL (default: AIMLAPI_BASE_URL or AIMLAPI's)"
    )
    add_debug(models)


def execute(args: argparse.Namespace) -> int:
    """Print the catalogue in force (refreshed first with ``--refresh``), filtered by family and tool support."""
    from aiml_agent.profiles import current_catalogue, profile_for, refresh_catalogue

    err = sys.stderr
    if args.refresh:
        catalogue = refresh_catalogue(base_url=args.base_url)
        if catalogue.warning:
            err.write(f"warning: {catalogue.warning}\n")
    else:
        catalogue = current_catalogue()
    rows = []
    for model in sorted(catalogue.models, key=lambda m: m.id.lower()):
        profile = profile_for(model.id)
        if args.family and profile.family != args.family.lower():
            continue
        if args.tools and not profile.supports_tools:
            continue
        rows.append((model, profile))
    if args.family and not rows and not args.tools:
        families = sorted({profile_for(m.id).family for m in catalogue.models})
        raise CLIError(f"no model of family {args.family!r}; families: {', '.join(families)}")

    out = sys.stdout
    if args.json:
        listed: list[dict[str, Any]] = [
            {"id": model.id, "aliases": list(model.aliases), "endpoint": model.endpoint, **profile.to_dict()}
            for model, profile in rows
        ]
        out.write(json.dumps(listed, indent=2, ensure_ascii=False) + "\n")
        return 0
    style = Style(out)
    width = max([len(model.id) for model, _ in rows] + [5])
    family_width = max([len(p.family) for _, p in rows] + [6])
    header = f"{'MODEL':<{width}}  {'FAMILY':<{family_width}}  " + "  ".join(title for title, _ in _COLUMNS)
    out.write(style(header + "  ALIASES", "bold") + "\n")
    for model, profile in rows:
        cells = [
            style(
                f"{'yes' if getattr(profile, field) else 'no':<{len(title)}}",
                "green" if getattr(profile, field) else "dim",
            )
            for title, field in _COLUMNS
        ]
        aliases = ", ".join(model.aliases)
        note = "" if model.endpoint == "chat" else style(f"({model.endpoint} endpoint) ", "yellow")
        line = f"{model.id:<{width}}  {profile.family:<{family_width}}  " + "  ".join(cells) + "  " + note + aliases
        out.write(line.rstrip() + "\n")
    out.write(style(f"{len(rows)} of {len(catalogue)} models; {_source(catalogue)}", "dim") + "\n")
    return 0


def _source(catalogue: Any) -> str:
    if catalogue.source == "embedded":
        return "catalogue: the snapshot embedded in aiml-agent ('aiml-agent models --refresh' fetches AIMLAPI's)"
    return f"catalogue: {catalogue.base_url}/models, fetched {catalogue.fetched_at}"
