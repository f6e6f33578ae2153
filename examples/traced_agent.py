"""Tracing: every agent run, model call and tool call as an OpenTelemetry span, printed by the console exporter.

``aiml_agent.instrument()`` uses the global tracer provider; any exporter works (OTLP to Jaeger, Tempo, Honeycomb...).
Each span shows where the time, the tokens and AIMLAPI's cost went.

    python examples/traced_agent.py          # no key: replays cassettes/examples/traced_agent.yaml
    AIMLAPI_API_KEY=... python examples/traced_agent.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

from _support import example_session
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import aiml_agent
from aiml_agent import Agent, AIMLAPIChatGenerator, tool
from aiml_agent.tracing import span_line


@tool
def get_exchange_rate(currency: str) -> float:
    """The value of one euro in another currency.

    Args:
        currency: An ISO 4217 code, e.g. "USD".
    """
    return {"USD": 1.08, "GBP": 0.85, "JPY": 162.4}.get(currency.upper(), 1.0)


def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=span_line)))  # one line a span
    trace.set_tracer_provider(provider)
    aiml_agent.instrument()  # capture_content=True would add messages, arguments and results

    with example_session("traced_agent") as api_base_url:
        agent = Agent(AIMLAPIChatGenerator(api_base_url=api_base_url), tools=[get_exchange_rate])
        result = agent.run("How much are 250 euros in dollars and in pounds?")
    print(f"\nAssistant: {result['last_message'].text}")


if __name__ == "__main__":
    main()
