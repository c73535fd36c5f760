#!/usr/bin/env python3
"""Reruns the llama.cpp reference figures writ's LLM tests pin.

Usage: scripts/llm_reference.py            (with llama-cpp-python importable,
       e.g. $WRIT_CACHE/venv-llamacpp/bin/python scripts/llm_reference.py)

Prints, for each pinned GGUF and fixed prompt: llama.cpp's token ids, its
five most likely next tokens with their logits, and 16 greedy tokens
(crates/llm/tests/smollm.rs and gemma.rs hold them); then llama.cpp's
built-in chat templates rendered over a fixed conversation
(crates/llm/src/chat.rs holds them).
"""
import ctypes, json, os, sys
import numpy as np
import llama_cpp
from llama_cpp import Llama

CACHE = os.environ.get("WRIT_MODELS") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "writ", "models")
PROMPTS = {
    "smollm2-135m-instruct-q4_1": [
        "<|im_start|>user\nWhat does the function parse_config(path) return when the file is missing?<|im_end|>\n<|im_start|>assistant\n",
        "The capital of France is",
    ],
    "gemma3-270m-q4_k_m": [
        "The capital of France is",
        "<start_of_turn>user\nFix the bug in parse_config() at line 2024, please!  Two  spaces, tabs\there, café ünïcode 日本語 and emoji 🎉.<end_of_turn>\n<start_of_turn>model\n",
    ],
}

for name, prompts in PROMPTS.items():
    path = os.path.join(CACHE, name, "model.gguf")
    m = Llama(model_path=path, n_ctx=512, n_threads=2, verbose=False, seed=0, logits_all=True)
    for text in prompts:
        ids = m.tokenize(text.encode(), add_bos=True, special=True)
        m.reset(); m.eval(ids)
        logits = np.array(m.scores[m.n_tokens - 1])
        top = [(int(i), round(float(logits[i]), 3)) for i in np.argsort(-logits)[:5]]
        greedy = []
        for _ in range(16):
            t = m.sample(temp=0.0); greedy.append(t); m.eval([t])
        print(json.dumps({"model": name, "text": text, "ids": ids, "top": top, "greedy": greedy}, ensure_ascii=False))

chat = [("system", "You are writ.\nBe brief."),
        ("user", "Context:\n[3] a.py lines 1-2\n```python\ndef f():\n    pass\n```\n\nQuestion: what does f do?")]
arr = (llama_cpp.llama_chat_message * len(chat))()
for i, (role, content) in enumerate(chat):
    arr[i].role = role.encode(); arr[i].content = content.encode()
for name in ["chatml", "llama3", "gemma", "phi3"]:
    buf = ctypes.create_string_buffer(8192)
    n = llama_cpp.llama_chat_apply_template(name.encode(), arr, len(chat), True, buf, 8192)
    print(json.dumps({"template": name, "rendered": buf.raw[:n].decode()}))
