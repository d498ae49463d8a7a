#!/usr/bin/env python3
"""Samples a 4x4 sheet from the latest flow checkpoint (EMA weights), to watch training: peek.py out.png [prompts...]."""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_bpe import ClipBpe  # noqa: E402
from nets import Decoder, FlowUNet, TextEncoder  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CKPT = os.path.join(ROOT, "checkpoints")
torch.set_num_threads(1)
flow = torch.load(os.path.join(CKPT, "flow.pt"))
cached = torch.load(os.path.join(CKPT, "latents.pt"))
ae = torch.load(os.path.join(CKPT, "autoencoder.pt"))
text = TextEncoder(flow["ema"][0]["id_map"], length=32)
unet = FlowUNet(4, widths=tuple(flow["widths"]), tokens=32)
text.load_state_dict(flow["ema"][0]), unet.load_state_dict(flow["ema"][1])
dec = Decoder(4)
dec.load_state_dict(ae["decoder"])
bpe = ClipBpe(os.path.join(ROOT, "flowbot-emoji/tokenizer/vocab.json"), os.path.join(ROOT, "flowbot-emoji/tokenizer/merges.txt"))
prompts = sys.argv[2:] or ["grinning face", "red apple", "cat face in 3d style", "pizza", "rocket", "red heart", "dog face in flat style",
                           "sun with face", "thumbs up", "crying face", "green apple", "fire", "star", "ghost", "snowman", "house"]
prompts = (prompts * 16)[:16]
ids = torch.tensor([bpe.encode_padded(p, 32) for p in prompts + [""] * 16])
with torch.no_grad():
    h = text(ids)[0]
    cond, uncond = h[:16], h[16:]
    x = torch.randn(16, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    sig = torch.linspace(1.0, 0.001, 8).tolist() + [0.0]
    for s, n in zip(sig[:-1], sig[1:]):
        t = torch.full((16,), s * 1000)
        c, u = unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond])).chunk(2)
        x = x + (n - s) * (u + 4.0 * (c - u))
    img = dec(x / cached["scale"] + cached["shift"]).clamp(-1, 1)
arr = ((img + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy().reshape(4, 4, 64, 64, 3).transpose(0, 2, 1, 3, 4).reshape(256, 256, 3)
Image.fromarray(arr).resize((512, 512), Image.NEAREST).save(sys.argv[1])
print(f"step {flow['step']}: {', '.join(prompts)}")
