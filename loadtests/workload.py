"""What a simulated coding agent works with: its tool catalogue and the text it types (no I/O, no locust)."""

from __future__ import annotations

import random

__all__ = ["TOOLS", "filler_text"]

TOOLS = [
    {"type": "function", "name": "read_file", "description": "Read a file of the repository.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
    {"type": "function", "name": "run_tests", "description": "Run the test suite.",
     "parameters": {"type": "object", "properties": {"target": {"type": "string"}}}},
    {"type": "function", "name": "grep", "description": "Search the repository.",
     "parameters": {"type": "object", "properties": {"pattern": {"type": "string"}}, "required": ["pattern"]}},
]

_WORDS = ("refactor the parser so that", "add a test for", "why does", "fix the bug in", "explain how",
          "rename", "the function", "module", "returns None when", "the cache", "on reconnect", "raises")



def filler_text(rng: random.Random, tokens: int) -> str:
    """About ``tokens`` tokens (4 characters each) of plausible request text."""
    words: list[str] = []
    size = 0
    while size < tokens * 4:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)
