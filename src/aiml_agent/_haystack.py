"""Haystack setup every entry module needs: our classes must load back through the deserialization allowlist.

Imported for its effect by the modules whose objects are serialized (generator, agent, tools, toolset), so
``Agent.from_dict`` / ``Pipeline.loads`` work in a fresh process whichever of them was imported.
"""

from haystack.core.serialization import allow_deserialization_module

allow_deserialization_module("aiml_agent")
