"""Conversations that persist: an agent run with ``session=`` continues a stored conversation and saves itself.

```python
from aiml_agent import Agent, SQLiteSession

session = SQLiteSession("user-42", path="conversations.db")
agent.run("Book a table for two on Friday.", session=session)
agent.run("Make it four people.", session=session)   # history loaded first; the run saved when it ends
session.messages(); session.runs(); session.clear()
```

:class:`SQLiteSession` stores them in an SQLite file (the standard library's); subclass :class:`Session` for
another store.
"""

from aiml_agent.sessions.base import RunRecord, Session, SessionRun
from aiml_agent.sessions.sqlite import SessionSummary, SQLiteSession

__all__ = [
    "RunRecord",
    "SQLiteSession",
    "Session",
    "SessionRun",
    "SessionSummary",
]
