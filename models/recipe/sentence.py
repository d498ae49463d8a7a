"""
The sentence encoder as v3's text side: models/minilm-l6's shipped ONNX graph (the file the bot runs)
through ONNX Runtime, and its WordPiece tokenizer. A prompt is cut to `tokens` ids keeping [SEP] last;
each text is encoded at its own length (BERT masks padding out, so the real rows do not depend on it)
and its rows are zero-padded to `tokens`. The runtime does the same (src/pipeline/families/flowbot.ts).
"""
import os

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Tokenizer


class SentenceStates:
    def __init__(self, root, tokens=32):
        folder = os.path.join(root, "minilm-l6")
        self.tokens = tokens
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("TRAIN_THREADS", "2"))
        self.session = ort.InferenceSession(os.path.join(folder, "encoder.onnx"), options, providers=["CPUExecutionProvider"])

    def ids(self, text):
        ids = self.tokenizer.encode(text).ids
        return ids if len(ids) <= self.tokens else ids[: self.tokens - 1] + [ids[-1]]

    def encode(self, texts, batch=512, progress=None):
        """Token states [N, tokens, 384] (fp16, padding rows zero) and pooled sentence vectors [N, 384]."""
        sequences = [self.ids(t) for t in texts]
        states = torch.zeros(len(texts), self.tokens, 384, dtype=torch.float16)
        pooled = torch.zeros(len(texts), 384)
        by_length = {}
        for i, s in enumerate(sequences):
            by_length.setdefault(len(s), []).append(i)
        done = 0
        for length, members in sorted(by_length.items()):
            for first in range(0, len(members), batch):
                rows = members[first : first + batch]
                ids = np.array([sequences[r] for r in rows], dtype=np.int64)
                token_states, sentence = self.session.run(["token_states", "sentence"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
                states[rows, :length] = torch.from_numpy(token_states).half()
                pooled[rows] = torch.from_numpy(sentence)
                done += len(rows)
            if progress:
                progress(f"captions: {done:,}/{len(texts):,} encoded (length {length})")
        return states, pooled
