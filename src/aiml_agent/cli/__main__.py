"""``python -m aiml_agent.cli``: the same as the ``aiml-agent`` console script."""

import sys

from aiml_agent.cli import main

sys.exit(main())
