"""Judges for explanation existence (EE) and cognition score (CS) (README "Explanations: EE, CS and FS").

Built-ins (registered lazily in ``selfsynth.registry.JUDGES``):
- ``local`` (``selfsynth.metrics.judges.local:LocalJudge``): offline embedding-based proxy, named
  ``local-proxy`` in every output.
- ``openai`` (``selfsynth.metrics.judges.openai_judge:OpenAIJudge``): an LLM behind any OpenAI-compatible
  endpoint, graded with our versioned rubric.

The interface every judge (built-in or plugin) implements is ``selfsynth.metrics.judges.base.Judge``.
"""
