#!/usr/bin/env python3
"""
Encodes every prompt `evaluate.py` can use for v3 (held-out names, paraphrases, sample-sheet prompts, the
side-by-side prompts and "") with the sentence encoder, into checkpoints/v3/eval-states.npz. It runs in
the recipe's virtual environment (ONNX Runtime, tokenizers); evaluate.py runs with Debian's torch, the
one its classifier (the ruler of v1 and v2's figures) was trained with.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_prompts import COMPARE_PROMPTS, candidate_prompts  # noqa: E402
from sentence import SentenceStates  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
meta = json.load(open(os.path.join(ROOT, "dataset", "meta.json")))
texts = ["", *COMPARE_PROMPTS]
for item in meta["items"]:
    if item["split"] == "heldout":
        texts.extend(candidate_prompts(item))
texts = list(dict.fromkeys(texts))
states, pooled = SentenceStates(ROOT).encode(texts)
out = os.path.join(ROOT, "checkpoints", "v3", "eval-states.npz")
np.savez(out, texts=np.array(texts), states=states.numpy(), pooled=pooled.numpy())
print(f"{len(texts)} prompts encoded -> {out}")
