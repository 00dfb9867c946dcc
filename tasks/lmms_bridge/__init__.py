"""Bridge to lmms-eval: our tasks as lmms-eval tasks (``export``) and our model loading as an
lmms-eval model (``model.SelfSynthLlava``, entry point ``selfsynth_llava``)."""
