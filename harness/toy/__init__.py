"""The offline toy world (DESIGN §5): a fine-grained toy bird dataset with ground truth and a small
LLaVA base model pre-trained on its generic captions. ``ensure_toy_world()`` builds both once."""
