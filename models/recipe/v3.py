#!/usr/bin/env python3
"""
flowbot-emoji v3: the shipped model conditioned on the pretrained sentence encoder (models/minilm-l6),
and a two-step draft student distilled from it by reflow.

    cd models && npm run data:build && npm run train:v3        # phases below, each resumable

Phases (checkpoints under models/checkpoints/v3/):
  captions  every training caption form and sampled paraphrases, encoded once by the shipped encoder
            graph (the int8/fp16 ONNX file the bot runs, so training sees what inference sees):
            token states [N, 32, 384] with padding rows zero, and the pooled sentence vector;
  teacher   from v2's UNet (recovered from its ONNX file): stage A trains the new projections and the
            cross-attention alone, stage B everything; the encoder stays frozen; 50% paraphrases;
  pairs     (noise, caption, teacher image) triples: the teacher's 8-step, guidance-4 Euler samples;
  student   reflow from the teacher's weights on those pairs: x_t = (1 - t)·x + t·z, target z - x, with
            most t at the draft's first step (σ = 1), so two Euler steps (σ 1 -> 0.001 -> 0, diffusers'
            FlowMatchEuler schedule) land on the teacher's image for the same noise;
  export    ONNX with fp16 weights behind a Cast (folded when a session loads), model.json, and the
            reference outputs of the parity test.

Runs on CUDA when present, else on the CPU (TRAIN_THREADS, default 2). Versions: requirements.txt.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from captions import paraphrased_caption  # noqa: E402
from nets import ConditionedUNet, Encoder  # noqa: E402
from sentence import SentenceStates  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "dataset")
CKPT = os.path.join(ROOT, "checkpoints", "v3")
OUT = os.path.join(ROOT, "flowbot-emoji")
V2 = os.environ.get("V2_DIR", os.path.join(ROOT, "checkpoints", "v2"))  # a copy of v2's folder, with v2-weights.pt
TOKENS = 32
LATENT = 4

parser = argparse.ArgumentParser()
parser.add_argument("--phase", choices=["all", "captions", "teacher", "pairs", "student", "export"], default="all")
parser.add_argument("--paraphrases", type=int, default=6, help="paraphrases sampled per training image")
parser.add_argument("--stage-a", type=int, default=600, help="steps training the projections and cross-attention")
parser.add_argument("--teacher-steps", type=int, default=6000, help="steps in all, stage A included")
parser.add_argument("--pairs", type=int, default=12288)
parser.add_argument("--student-steps", type=int, default=2000)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--teacher-restart", type=int, default=0,
                    help="for model.json: the step where a shorter teacher run was extended (its learning rate restarts there)")
parser.add_argument("--seed", type=int, default=20261206)
args = parser.parse_args()

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
os.makedirs(CKPT, exist_ok=True)


def log(message):
    line = f"{time.strftime('%H:%M:%S')} {message}"
    print(line, flush=True)
    with open(os.path.join(CKPT, "train.log"), "a") as f:
        f.write(line + "\n")


meta = json.load(open(os.path.join(DATA, "meta.json")))
SIZE = meta["size"]
items = meta["items"]
images = np.fromfile(os.path.join(DATA, "images.u8"), dtype=np.uint8).reshape(meta["count"], SIZE, SIZE, 3)
train_idx = np.array([i for i, item in enumerate(items) if item["split"] == "train"])
v2_manifest = json.load(open(os.path.join(V2, "model.json")))
SCALE, SHIFT = v2_manifest["latent"]["scale"], v2_manifest["latent"]["shift"]


def lr_at(step, total, base, warmup=100):
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ---- captions -----------------------------------------------------------------------------------------
def caption_pool():
    """Unique caption texts, per training image the indices of its data-build forms and paraphrases."""
    path = os.path.join(CKPT, "captions.pt")
    if os.path.exists(path):
        return torch.load(path)
    rng = np.random.default_rng(args.seed)
    texts, index = [""], {"": 0}

    def add(text):
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    forms, paraphrases = {}, {}
    for i in train_idx:
        forms[int(i)] = [add(c) for c in items[i]["captions"]]
        paraphrases[int(i)] = [add(paraphrased_caption(items[i], rng)) for _ in range(args.paraphrases)]
    log(f"captions: {len(texts):,} unique texts for {len(train_idx):,} training images")
    start = time.time()
    states, pooled = SentenceStates(ROOT, TOKENS).encode(texts, progress=log)
    log(f"captions: encoded in {time.time() - start:.0f} s")
    pool = {"texts": texts, "states": states, "pooled": pooled, "forms": forms, "paraphrases": paraphrases}
    torch.save(pool, path)
    return pool


def draw_captions(batch, pool, rng, empty=0.1, paraphrase=0.5):
    """One caption index per image: `empty` of them "" (for guidance), half the rest a paraphrase."""
    out = []
    for i in batch:
        if rng.random() < empty:
            out.append(0)
        elif rng.random() < paraphrase:
            options = pool["paraphrases"][int(i)]
            out.append(options[int(rng.integers(len(options)))])
        else:
            options = pool["forms"][int(i)]
            out.append(options[int(rng.integers(len(options)))])
    return torch.tensor(out)


def conditioning(pool, index):
    return pool["states"][index].float().to(device), pool["pooled"][index].float().to(device)


# ---- latents ------------------------------------------------------------------------------------------
def latents():
    path = os.path.join(CKPT, "latents.pt")
    if os.path.exists(path):
        return torch.load(path)
    enc = Encoder(LATENT)
    enc.load_state_dict(torch.load(os.path.join(V2, "v2-weights.pt"))["encoder"])
    enc.eval()
    chunks = []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            x = torch.from_numpy(images[i : i + 256]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
            chunks.append(enc(x)[:, :LATENT])
    z = (torch.cat(chunks) - SHIFT) * SCALE
    torch.save(z, path)
    return z


class Ema:
    def __init__(self, module, decay=0.999):
        self.module, self.decay = module, decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def update(self, step):
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in self.module.state_dict().items():
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d) if v.dtype.is_floating_point else self.shadow[k].copy_(v)


def v2_unet():
    """v2's denoiser weights in v3's network (text_pool dropped; the projections start fresh)."""
    old = torch.load(os.path.join(V2, "v2-weights.pt"))["unet"]
    unet = ConditionedUNet(LATENT, widths=(128, 256), tokens=TOKENS)
    missing, unexpected = unet.load_state_dict(old, strict=False)
    log(f"teacher: v2 weights loaded; new {sorted({k.split('.')[0] for k in missing})}, dropped {sorted({k.split('.')[0] for k in unexpected})}")
    return unet


def train_loop(name, unet, total, sample_batch, first_stage=0, base_lr=3e-4):
    """Shared loop of teacher and student: MSE on velocity, EMA, checkpoints every 500 steps."""
    path = os.path.join(CKPT, f"{name}.pt")
    state = torch.load(path) if os.path.exists(path) else None
    if state and state["step"] >= total:
        log(f"{name}: finished checkpoint found")
        return state
    ema = Ema(unet)
    first = 0
    if state:
        unet.load_state_dict(state["unet"]), ema.shadow.update(state["ema"])
        first = state["step"]
    rng = np.random.default_rng(args.seed + first + hash(name) % 1000)
    torch.manual_seed(args.seed + first)

    def optimizer(stage_a):
        params = list(unet.cross_attention_parameters()) if stage_a else list(unet.parameters())
        for p in unet.parameters():
            p.requires_grad_(not stage_a)
        for p in params:
            p.requires_grad_(True)
        return torch.optim.AdamW(params, lr=base_lr, weight_decay=0.01), params

    stage_a = first < first_stage
    opt, params = optimizer(stage_a)
    if state and "opt" in state and state.get("stage_a") == stage_a:
        opt.load_state_dict(state["opt"])
    start, running, seconds = time.time(), 0.0, state["seconds"] if state else 0.0
    for step in range(first, total):
        if stage_a and step >= first_stage:
            stage_a = False
            opt, params = optimizer(False)
            log(f"{name}: stage B (everything) from step {step}")
        stage_total, stage_step = (first_stage, step) if stage_a else (total - first_stage, step - first_stage)
        for group in opt.param_groups:
            group["lr"] = lr_at(stage_step, stage_total, 1e-3 if stage_a else base_lr)
        xt, t, states, pooled, target = sample_batch(rng)
        loss = F.mse_loss(unet(xt, t * 1000, states, pooled), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(step)
        running += loss.item()
        if (step + 1) % 100 == 0:
            log(f"{name} step {step + 1}: loss {running / 100:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"({(time.time() - start) / (step + 1 - first):.2f} s/step)")
            running = 0.0
        if (step + 1) % 500 == 0 or step + 1 == total:
            state = {"unet": unet.state_dict(), "ema": ema.shadow, "opt": opt.state_dict(), "stage_a": stage_a,
                     "step": step + 1, "seconds": seconds + time.time() - start}
            torch.save(state, path)
            torch.save({"ema": ema.shadow, "step": step + 1, "seconds": state["seconds"]},
                       os.path.join(CKPT, f"{name}-snap-{step + 1}.pt"))
    log(f"{name}: done, {state['seconds']:.0f} s")
    return state


def train_teacher(pool, z):
    forms = torch.tensor(train_idx)

    def sample_batch(rng):
        batch = forms[torch.from_numpy(rng.integers(len(forms), size=args.batch))].numpy()
        states, pooled = conditioning(pool, draw_captions(batch, pool, rng))
        x0 = z[torch.from_numpy(batch)].to(device)
        noise = torch.randn_like(x0)
        t = torch.sigmoid(torch.randn(len(batch), device=device))
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        return xt, t, states, pooled, noise - x0

    path = os.path.join(CKPT, "teacher.pt")
    unet = (ConditionedUNet(LATENT, widths=(128, 256), tokens=TOKENS) if os.path.exists(path) else v2_unet()).to(device)
    log(f"teacher: {sum(p.numel() for p in unet.parameters()):,} parameters, stage A {args.stage_a} steps, "
        f"{args.teacher_steps} in all, batch {args.batch}")
    return train_loop("teacher", unet, args.teacher_steps, sample_batch, first_stage=args.stage_a)


def euler(unet, z, states, pooled, steps, guidance, uncond=None):
    """diffusers' FlowMatchEuler (shift 1): σ = linspace(1, 0.001, steps), then 0; CFG u + g·(c − u)."""
    sigmas = torch.linspace(1.0, 0.001, steps).tolist() + [0.0]
    x = z
    with torch.no_grad():
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            t = torch.full((len(x),), s * 1000, device=x.device)
            if guidance == 1:
                v = unet(x, t, states, pooled)
            else:
                both = unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([states, uncond[0].expand_as(states)]),
                            torch.cat([pooled, uncond[1].expand_as(pooled)]))
                c, u = both.chunk(2)
                v = u + guidance * (c - u)
            x = x + (s_next - s) * v
    return x


def load_ema(name, file=None):
    state = torch.load(file or os.path.join(CKPT, f"{name}.pt"))
    unet = ConditionedUNet(LATENT, widths=(128, 256), tokens=TOKENS)
    unet.load_state_dict(state["ema"])
    return unet.eval().to(device)


def teacher_pairs(pool):
    path = os.path.join(CKPT, "pairs.pt")
    if os.path.exists(path):
        return torch.load(path)
    teacher = load_ema("teacher")
    rng = np.random.default_rng(args.seed + 7)
    g = torch.Generator().manual_seed(args.seed + 7)
    uncond = conditioning(pool, torch.tensor([0]))
    noise, images_out, captions = [], [], []
    start = time.time()
    for first in range(0, args.pairs, 256):
        batch = train_idx[rng.integers(len(train_idx), size=256)]
        index = draw_captions(batch, pool, rng, empty=0.05)
        states, pooled = conditioning(pool, index)
        z = torch.randn(256, LATENT, SIZE // 4, SIZE // 4, generator=g).to(device)
        noise.append(z.cpu()), captions.append(index)
        images_out.append(euler(teacher, z, states, pooled, 8, 4.0, uncond).cpu())
        if first % 2048 == 0:
            log(f"pairs: {first + 256:,}/{args.pairs:,} ({time.time() - start:.0f} s)")
    pairs = {"noise": torch.cat(noise), "image": torch.cat(images_out), "caption": torch.cat(captions),
             "seconds": time.time() - start}
    torch.save(pairs, path)
    log(f"pairs: {args.pairs:,} teacher samples in {time.time() - start:.0f} s")
    return pairs


def train_student(pool, pairs):
    def sample_batch(rng):
        pick = torch.from_numpy(rng.integers(len(pairs["noise"]), size=args.batch))
        z, x = pairs["noise"][pick].to(device), pairs["image"][pick].to(device)
        states, pooled = conditioning(pool, pairs["caption"][pick])
        # 70% at the draft's first step (σ = 1), the rest along the straight path: the second step
        # (σ = 0.001) and anything between stay a flow toward the same image.
        t = torch.where(torch.rand(len(z), device=device) < 0.7, torch.ones(len(z), device=device),
                        torch.rand(len(z), device=device))
        xt = (1 - t[:, None, None, None]) * x + t[:, None, None, None] * z
        return xt, t, states, pooled, z - x

    unet = load_ema("teacher").train()
    return train_loop("student", unet, args.student_steps, sample_batch, base_lr=2e-4)


def training_record():
    """What model.json says of how v3 was made (read back from the checkpoints)."""
    teacher, student = (torch.load(os.path.join(CKPT, f"{n}.pt")) for n in ("teacher", "student"))
    pairs = torch.load(os.path.join(CKPT, "pairs.pt"))
    captions = torch.load(os.path.join(CKPT, "captions.pt"))
    return {"device": str(device), "threads": torch.get_num_threads(), "fine_tuned_from": "v2",
            "captions": len(captions["texts"]), "paraphrases_per_image": len(next(iter(captions["paraphrases"].values()))),
            "paraphrase_share": 0.5, "stage_a_steps": args.stage_a, "teacher_steps": teacher["step"],
            "teacher_seconds": teacher["seconds"], "teacher_restart_step": args.teacher_restart, "batch": args.batch, "reflow_pairs": len(pairs["noise"]),
            "reflow_pairs_seconds": pairs.get("seconds"), "student_steps": student["step"],
            "student_seconds": student["seconds"]}


if __name__ == "__main__":
    pool = caption_pool() if args.phase in ("all", "captions", "teacher", "pairs", "student") else None
    if args.phase in ("all", "teacher"):
        train_teacher(pool, latents())
    if args.phase in ("all", "pairs", "student"):
        pairs = teacher_pairs(pool)
        if args.phase != "pairs":
            train_student(pool, pairs)
    if args.phase in ("all", "export"):
        from export_v3 import export  # noqa: E402

        export(CKPT, V2, OUT, training=training_record())
