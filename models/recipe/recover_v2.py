"""
Recovers v2's text encoder, denoiser and VAE from a copy of its model folder into FOLDER/v2-weights.pt, for v3.py.

    /usr/bin/python3 recipe/recover_v2.py checkpoints/v2

Run it with Debian's python3-torch (1.13): recovery matches the initializer names of the exporter that
wrote v2, and torch >= 2.x names a Linear's transposed weight differently.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_bpe import ClipBpe
from shipped import shipped_flow, shipped_autoencoder
V2 = sys.argv[1]
bpe = ClipBpe(os.path.join(V2, "tokenizer", "vocab.json"), os.path.join(V2, "tokenizer", "merges.txt"))
text, unet = shipped_flow(V2, bpe, 32, 4, (128, 256))
enc, dec = shipped_autoencoder(V2, 64, 4)
torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "encoder": enc.state_dict(), "decoder": dec.state_dict()}, os.path.join(V2, "v2-weights.pt"))
print("saved")
