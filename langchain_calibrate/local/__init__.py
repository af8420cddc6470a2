"""The embedded local default: a real model served by ``llama-server`` on loopback.

See :mod:`langchain_calibrate.local.server`: ``LlamaServer`` (an OpenAI-compatible endpoint with
logprobs), ``ensure_llama_server`` (locate or build the binary) and ``default_model_path`` (the
bundled Gemma 3 270M GGUF). Nothing is re-exported here so that importing the package stays cheap
and free of side effects.
"""
