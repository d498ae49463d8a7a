#!/usr/bin/env python3
"""
`npm run train:sr` (in models/): trains emoji-sr, flowbot's x4 super-resolution model for emoji art,
and exports it to models/emoji-sr/model.onnx.

Training pairs, both x4, from the data build (`npm run data:build`, plus `DATA_SIZE=256` for
dataset256/):
- render: the 64 px render of an emoji (what the generator learned to make) against the 256 px render of
  the same SVG (noto, twemoji, fluent, emojione, fxemoji: the sources that are vectors, so 256 px is
  real detail). Random 32 px crops, half of them softened a little (the generator's VAE is soft).
- downscaled: a 64 px image against itself shrunk to 16 px (antialiased bicubic, bilinear or area),
  the protocol of eval-upscale.ts.
Held-out emoji (split "heldout") are never trained on. The network is small (a residual CNN over a
bilinear base, PixelShuffle x4) so that a 2-core CPU upscales a 2x2 grid in a fraction of a second.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "emoji-sr")
CKPT = os.path.join(ROOT, "checkpoints")
torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
torch.manual_seed(0)
rng = np.random.default_rng(0)
MINUTES = float(os.environ.get("SR_MINUTES", "30"))
VECTOR_SOURCES = {
    "@iconify-json/noto",
    "@iconify-json/twemoji",
    "@iconify-json/fluent-emoji-flat",
    "@iconify-json/fluent-emoji",
    "@iconify-json/emojione",
    "@iconify-json/fxemoji",
}


def load(folder):
    meta = json.load(open(os.path.join(ROOT, folder, "meta.json")))
    size = meta["size"]
    data = np.memmap(os.path.join(ROOT, folder, "images.u8"), dtype=np.uint8, mode="r")
    return meta, data.reshape(meta["count"], size, size, 3)


class ResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class EmojiSR(nn.Module):
    """x4 super-resolution: a bilinear base plus a learned residual. Input and output in [0, 1], NCHW."""

    def __init__(self, ch=48, blocks=8, scale=4):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(3, ch, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(ch) for _ in range(blocks)], nn.Conv2d(ch, ch, 3, padding=1))
        self.tail = nn.Sequential(nn.Conv2d(ch, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))
        nn.init.zeros_(self.tail[0].weight)
        nn.init.zeros_(self.tail[0].bias)

    def forward(self, x):
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        h = self.head(x)
        return base + self.tail(self.body(h) + h)


def to_tensor(batch):
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255.0


def shrink(hr, mode):
    if mode == "area":
        return F.interpolate(hr, scale_factor=0.25, mode="area")
    return F.interpolate(hr, scale_factor=0.25, mode=mode, align_corners=False, antialias=True).clamp(0, 1)


def soften(lr):
    """A slight blur on half the batch: the generator's decoder is softer than a renderer."""
    sigma = float(rng.uniform(0.3, 0.9))
    k = torch.tensor([math.exp(-(i * i) / (2 * sigma * sigma)) for i in (-1, 0, 1)])
    k = (k / k.sum()).view(1, 1, 1, 3)
    kernel = (k.transpose(2, 3) @ k).repeat(3, 1, 1, 1)
    blurred = F.conv2d(F.pad(lr, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    keep = torch.from_numpy(rng.random(lr.shape[0]) < 0.5)[:, None, None, None]
    return torch.where(keep, lr, blurred)


def psnr(a, b):
    mse = F.mse_loss((a.clamp(0, 1) * 255).round(), (b * 255).round(), reduction="none").mean(dim=(1, 2, 3))
    return (10 * torch.log10(255 * 255 / mse.clamp_min(1e-10))).mean().item()


def main():
    meta64, img64 = load("dataset")
    meta256, img256 = load("dataset256")
    assert meta64["count"] == meta256["count"], "the 64 px and 256 px builds must list the same images"
    items = meta64["items"]
    train = [i for i, it in enumerate(items) if it["split"] == "train"]
    vector_train = [i for i in train if items[i]["source"] in VECTOR_SOURCES]
    held = [i for i, it in enumerate(items) if it["split"] == "heldout"]
    vector_held = [i for i in held if items[i]["source"] in VECTOR_SOURCES][:96]
    print(f"train {len(train)} ({len(vector_train)} vector), held out {len(held)}", flush=True)

    model = EmojiSR()
    print(f"parameters {sum(p.numel() for p in model.parameters())}", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.time()
    budget = MINUTES * 60
    step = 0
    log = open(os.path.join(CKPT, "sr-train.log"), "a")
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        for group in opt.param_groups:
            group["lr"] = 1e-4 + (2e-3 - 1e-4) * 0.5 * (1 + math.cos(math.pi * frac))
        if step % 2 == 0:
            idx = np.sort(rng.choice(vector_train, 16, replace=False))
            y0, x0 = rng.integers(0, 64 - 32 + 1, 2)
            lr = to_tensor(img64[idx, y0 : y0 + 32, x0 : x0 + 32])
            hr = to_tensor(img256[idx, 4 * y0 : 4 * y0 + 128, 4 * x0 : 4 * x0 + 128])
            lr = soften(lr)
        else:
            idx = np.sort(rng.choice(train, 48, replace=False))
            hr = to_tensor(img64[idx])
            if rng.random() < 0.5:
                hr = torch.flip(hr, dims=[3])
            lr = shrink(hr, ["bicubic", "bilinear", "area"][step // 2 % 3])
        loss = F.l1_loss(model(lr), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0:
            line = f"step {step} {time.time() - start:.0f}s loss {loss.item():.4f}"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
        step += 1

    model.eval()
    with torch.no_grad():
        hr = to_tensor(img256[vector_held])
        lr = to_tensor(img64[vector_held])
        render_model = psnr(model(lr), hr)
        render_base = psnr(F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False), hr)
        hr64 = to_tensor(img64[held[::4]])
        lr16 = shrink(hr64, "bicubic")
        down_model = psnr(model(lr16), hr64)
        down_base = psnr(F.interpolate(lr16, scale_factor=4, mode="bicubic", align_corners=False), hr64)
    summary = {
        "steps": step,
        "minutes": round((time.time() - start) / 60, 1),
        "heldout_render_64_to_256": {"emoji_sr": render_model, "bicubic": render_base},
        "heldout_downscaled_16_to_64": {"emoji_sr": down_model, "bicubic": down_base},
    }
    print(json.dumps(summary, indent=2), flush=True)
    log.write(json.dumps(summary) + "\n")

    os.makedirs(OUT, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(CKPT, "emoji-sr.pt"))
    example = torch.rand(1, 3, 32, 32)
    torch.onnx.export(
        model,
        example,
        os.path.join(OUT, "model.onnx"),
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {2: "height", 3: "width"}, "output": {2: "height4", 3: "width4"}},
        opset_version=13,
    )
    json.dump(
        {
            "format": "flowbot-upscaler",
            "scale": 4,
            "input_range": [0, 1],
            "tile": 128,
            "license": "Apache-2.0",
            "source": "trained by models/recipe/train_sr.py on the emoji data build (see MODEL_CARD.md)",
            "training": summary,
        },
        open(os.path.join(OUT, "upscaler.json"), "w"),
        indent=2,
    )
    # The parity reference for test/upscaler.test.ts: onnxruntime-node must reproduce PyTorch's output.
    with torch.no_grad():
        ref_in = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
        ref_out = model(ref_in)
    reference = {
        "origin": "models/recipe/train_sr.py: the PyTorch emoji-sr network on a seeded random input",
        "input_nchw": [round(v, 6) for v in ref_in.flatten().tolist()],
        "dims": list(ref_in.shape),
        "output_nchw": [round(v, 6) for v in ref_out.flatten().tolist()],
        "output_dims": list(ref_out.shape),
    }
    fixture = os.path.join(os.path.dirname(ROOT), "test", "fixtures", "emoji-sr-reference.json")
    json.dump(reference, open(fixture, "w"))
    print(f"exported {OUT} and {fixture}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
