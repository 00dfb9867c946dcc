"""Judges for explanation existence (EE) and cognition score (CS), DESIGN §3.

Built-ins (registered lazily in ``harness.registry.JUDGES``):
- ``local`` (``metrics.judges.local:LocalJudge``): offline embedding-based proxy, named
  ``local-proxy`` in every output.
- ``openai`` (``metrics.judges.openai_judge:OpenAIJudge``): an LLM behind any OpenAI-compatible
  endpoint, graded with our versioned rubric.

The interface every judge (built-in or plugin) implements is ``metrics.judges.base.Judge``.
"""
