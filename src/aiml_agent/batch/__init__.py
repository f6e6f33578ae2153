"""Batch runs: one agent over thousands of inputs, at the concurrency the server takes, resumable.

```python
from aiml_agent.batch import run_batch

result = run_batch(agent, "questions.jsonl", checkpoint="answers.jsonl")   # concurrency="auto"
result.items    # in input order: id, status ("ok" | "error"), text, output, exit_reason, usage, cost, error
result.totals   # counts by status and exit reason, tokens, cost, wall time
```

How it behaves:

- Inputs stream: a JSONL file or an iterable is read one input at a time, and only the items in flight (at most
  twice the concurrency) are in memory — plus, with ``keep_items=True`` (the default), the outcomes for
  ``result.items``. Pass ``keep_items=False`` with a checkpoint for millions of inputs.
- Concurrency: ``"auto"`` adapts the model requests in flight (AIMD, see ``_limiter``); a number fixes them.
- Retries are the batch's (the agent's ``AIMLAPIChatGenerator`` runs with ``max_retries=0`` here): a model call
  refused with 429 waits and goes again, never failing its item; a 5xx, a timeout or a broken connection is tried
  up to ``max_attempts`` times; only the refused call is repeated, not the run's earlier steps or tools.
- A failed item is recorded (status ``"error"``) and the batch goes on. A 403 (out of credits), a 401 or a
  missing key stops it: ``result.stopped`` says why, and the checkpoint holds everything that finished.
- The checkpoint is a JSONL file in the order items finished, each line with its ``index`` and ``id``; a rerun
  with it skips the ids it holds (and runs the errors again with ``retry_errors=True``), also after the process
  was killed.
- Ray (``executor="ray"``): the agent goes to the workers as ``Agent.to_dict()``; each runs sub-batches of
  inputs asynchronously; this process keeps the checkpoint and the order.
"""

from __future__ import annotations

from aiml_agent.batch._run import run_batch, run_batch_async
from aiml_agent.batch.result import BatchInterrupted, BatchItem, BatchResult, BatchTotals

__all__ = ["BatchInterrupted", "BatchItem", "BatchResult", "BatchTotals", "run_batch", "run_batch_async"]
