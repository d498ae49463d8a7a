#!/usr/bin/env python3
"""
Trains flowbot's shipped model and exports it to ONNX under models/flowbot-emoji/.

    cd models && npm run data:build && npm run train        # or: /usr/bin/python3 recipe/train.py

Phases (each resumable from models/checkpoints/):
  1. autoencoder: 64x64 RGB <-> 16x16x4 latents (VAE with a tiny KL term), L1 + MSE loss;
  2. latent cache: the dataset encoded once (the encoder's mean), with the latent mean and scale;
  3. flow: a CLIP-tokenised causal text transformer and a rectified-flow UNet, trained jointly:
     x_t = (1 - t)·x0 + t·ε, target v = ε − x0, t logit-normal, 10% caption dropout for guidance;
  4. export: ONNX (opset 17) with fixed I/O names, model.json, and reference outputs for the parity test.

Runs on a CUDA GPU when one is present, else on the CPU (2 threads by default; set TRAIN_THREADS).
Needs Debian's python3-torch and an optimised BLAS (libopenblas0-pthread): with the reference BLAS that
python3-torch pulls in alone, linear layers are ~35x slower. Seeds are fixed; losses go to the log.
"""
import argparse
import functools
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from captions import all_paraphrases, paraphrased_caption  # noqa: E402
from clip_bpe import ClipBpe  # noqa: E402
from nets import Decoder, Encoder, FlowUNet, TextEncoder  # noqa: E402
from shipped import DecodeWrapper, extend_id_map, shipped_autoencoder, shipped_flow  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "dataset")
CKPT = os.path.join(ROOT, "checkpoints")
OUT = os.path.join(ROOT, "flowbot-emoji")
TOKENS = 32
LATENT = 4

parser = argparse.ArgumentParser()
parser.add_argument("--ae-steps", type=int, default=2400)
parser.add_argument("--ae-batch", type=int, default=32)
parser.add_argument("--flow-steps", type=int, default=9000)
parser.add_argument("--flow-batch", type=int, default=64)
parser.add_argument("--lr", type=float, default=6e-4)
parser.add_argument("--widths", type=str, default="128,256")
parser.add_argument("--seed", type=int, default=20261122)
parser.add_argument("--paraphrase", type=float, default=0.5, help="share of captions drawn from captions.py")
parser.add_argument("--from-shipped", action="store_true",
                    help="without checkpoints, start from the weights in models/flowbot-emoji/*.onnx (fine-tuning)")
parser.add_argument("--decoder-steps", type=int, default=0, help="fine-tune the VAE decoder alone (encoder frozen)")
parser.add_argument("--phase", choices=["all", "ae", "decoder", "cache", "flow", "export"], default="all")
args = parser.parse_args()

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
os.makedirs(CKPT, exist_ok=True)
os.makedirs(OUT, exist_ok=True)


def log(message):
    line = f"{time.strftime('%H:%M:%S')} {message}"
    print(line, flush=True)
    with open(os.path.join(CKPT, "train.log"), "a") as f:
        f.write(line + "\n")


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


meta = json.load(open(os.path.join(DATA, "meta.json")))
SIZE = meta["size"]
images = np.fromfile(os.path.join(DATA, "images.u8"), dtype=np.uint8).reshape(meta["count"], SIZE, SIZE, 3)
train_idx = np.array([i for i, item in enumerate(meta["items"]) if item["split"] == "train"])
held_idx = np.array([i for i, item in enumerate(meta["items"]) if item["split"] == "heldout"])
log(f"data: {len(images)} images ({len(train_idx)} train, {len(held_idx)} held out) at {SIZE}px on {device}")


def to_tensor(batch):
    return torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def lr_at(step, total, base, warmup=200):
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def held_out_psnr(enc, dec):
    """Reconstruction PSNR of the first 256 held-out images (encoder means, no sampling)."""
    with torch.no_grad():
        held = to_tensor(images[held_idx[:256]])
        return psnr(dec(enc(held)[:, :LATENT]), held)


def psnr(a, b):
    mse = F.mse_loss(a.clamp(-1, 1), b).item()
    return 10 * math.log10(4 / max(mse, 1e-10))


# ---- 1. autoencoder ----------------------------------------------------------------------------------
def train_autoencoder():
    path = os.path.join(CKPT, "autoencoder.pt")
    if os.path.exists(path):
        log("autoencoder: checkpoint found, skipping")
        return
    if args.from_shipped:
        enc, dec = shipped_autoencoder(OUT, SIZE, LATENT)
        enc.eval(), dec.eval()
        score = held_out_psnr(enc, dec)
        log(f"autoencoder: recovered from the shipped ONNX files, held-out PSNR {score:.2f} dB")
        torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict(), "psnr": score, "seconds": 0.0}, path)
        return
    seed_everything(args.seed)
    enc, dec = Encoder(LATENT).to(device), Decoder(LATENT).to(device)
    params = list(enc.parameters()) + list(dec.parameters())
    log(f"autoencoder: {sum(p.numel() for p in params):,} parameters, {args.ae_steps} steps of {args.ae_batch}")
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    start, running = time.time(), 0.0
    for step in range(args.ae_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.ae_steps, 1e-3)
        x = to_tensor(images[rng.choice(train_idx, args.ae_batch)])
        moments = enc(x)
        mean, logvar = moments[:, :LATENT], moments[:, LATENT:].clamp(-30, 20)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        y = dec(z)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = (y - x).abs().mean() + F.mse_loss(y, x) + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        running += loss.item()
        if (step + 1) % 100 == 0:
            log(f"autoencoder step {step + 1}: loss {running / 100:.4f} ({(time.time() - start) / (step + 1):.2f} s/step)")
            running = 0.0
    enc.eval(), dec.eval()
    score = held_out_psnr(enc, dec)
    log(f"autoencoder: held-out PSNR {score:.2f} dB after {time.time() - start:.0f} s")
    torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict(), "psnr": score, "seconds": time.time() - start}, path)


def finetune_decoder():
    """
    Trains the decoder alone on the frozen encoder's means: latents, and so the flow model trained on
    them, stay valid, and decoding sharpens. Runs `--decoder-steps` steps once (marked in the checkpoint).
    """
    path = os.path.join(CKPT, "autoencoder.pt")
    state = torch.load(path)
    if state.get("decoder_steps", 0) >= args.decoder_steps:
        log("decoder: fine-tuned checkpoint found, skipping")
        return
    seed_everything(args.seed + 2)
    enc, dec = Encoder(LATENT).to(device), Decoder(LATENT).to(device)
    enc.load_state_dict(state["encoder"]), dec.load_state_dict(state["decoder"])
    enc.eval()
    opt = torch.optim.AdamW(dec.parameters(), lr=2e-4, weight_decay=0.0)
    rng = np.random.default_rng(args.seed + 2)
    start, running = time.time(), 0.0
    for step in range(args.decoder_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.decoder_steps, 2e-4, warmup=50)
        x = to_tensor(images[rng.choice(train_idx, args.ae_batch)])
        with torch.no_grad():
            z = enc(x)[:, :LATENT]
        y = dec(z)
        loss = (y - x).abs().mean() + F.mse_loss(y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dec.parameters(), 1.0)
        opt.step()
        running += loss.item()
        if (step + 1) % 100 == 0:
            log(f"decoder step {step + 1}: loss {running / 100:.4f} ({(time.time() - start) / (step + 1):.2f} s/step)")
            running = 0.0
    dec.eval()
    score = held_out_psnr(enc, dec)
    log(f"decoder: held-out PSNR {state['psnr']:.2f} -> {score:.2f} dB after {time.time() - start:.0f} s")
    state.update({"decoder": dec.state_dict(), "psnr": score, "decoder_steps": args.decoder_steps,
                  "decoder_seconds": time.time() - start})
    torch.save(state, path)


# ---- 2. latent cache --------------------------------------------------------------------------------
def cache_latents():
    path = os.path.join(CKPT, "latents.pt")
    if os.path.exists(path):
        return torch.load(path)
    state = torch.load(os.path.join(CKPT, "autoencoder.pt"))
    enc = Encoder(LATENT).to(device)
    enc.load_state_dict(state["encoder"])
    enc.eval()
    chunks = []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            chunks.append(enc(to_tensor(images[i : i + 256]))[:, :LATENT].cpu())
    latents = torch.cat(chunks)
    shift = latents[train_idx].mean().item()
    scale = 1.0 / latents[train_idx].std().item()
    cached = {"latents": latents, "shift": shift, "scale": scale}
    torch.save(cached, path)
    log(f"latents: {tuple(latents.shape)}, shift {shift:.4f}, scale {scale:.4f}")
    return cached


# ---- 3. flow ------------------------------------------------------------------------------------------
def tokenizer():
    return ClipBpe(os.path.join(OUT, "tokenizer", "vocab.json"), os.path.join(OUT, "tokenizer", "merges.txt"))


def caption_table():
    """
    Every caption variant tokenised once; the id map covers tokens seen in training captions, the
    paraphrases of captions.py included.
    """
    bpe = tokenizer()
    texts = [""]
    owner = []
    for i, item in enumerate(meta["items"]):
        start = len(texts)
        texts.extend(item["captions"])
        owner.append((start, len(texts)))
    ids = torch.tensor([bpe.encode_padded(t, TOKENS) for t in texts], dtype=torch.long)
    seen = {int(t) for i in train_idx for t in ids[owner[i][0] : owner[i][1]].flatten()} | {bpe.start, bpe.end}
    if args.paraphrase > 0:
        words = {w for i in train_idx for caption in all_paraphrases(meta["items"][i]) for w in caption.split()}
        seen |= {int(t) for w in words for t in bpe.encode(w)}
    id_map = torch.zeros(49408, dtype=torch.long)  # row 0: unknown token
    for compact, token in enumerate(sorted(seen), start=1):
        id_map[token] = compact
    return ids, owner, id_map


class Ema:
    def __init__(self, modules, decay):
        self.modules = modules
        self.decay = decay
        self.shadow = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]

    def update(self, decay=None):
        d = self.decay if decay is None else decay
        with torch.no_grad():
            for module, shadow in zip(self.modules, self.shadow):
                for k, v in module.state_dict().items():
                    if v.dtype.is_floating_point:
                        shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
                    else:
                        shadow[k].copy_(v)


def caption_encoder():
    """Token ids of a caption on the training device, each caption tokenised once."""
    bpe = tokenizer()

    @functools.lru_cache(maxsize=None)
    def encode(caption):
        return torch.tensor(bpe.encode_padded(caption, TOKENS), dtype=torch.long, device=device)

    return encode


def caption_ids(batch, ids, owner, rng, encode):
    """
    Token ids of one caption per image: 10% empty (for guidance), `--paraphrase` of the rest a
    paraphrase from captions.py (tokenised by `encode`), the others one of the data build's caption forms.
    """
    rows = []
    for i in batch:
        if rng.random() < 0.1:
            rows.append(ids[0])
        elif rng.random() < args.paraphrase:
            rows.append(encode(paraphrased_caption(meta["items"][i], rng)))
        else:
            rows.append(ids[int(rng.integers(*owner[i]))])
    return torch.stack(rows)


def train_flow(cached):
    path = os.path.join(CKPT, "flow.pt")
    state = torch.load(path) if os.path.exists(path) else None
    if state and state.get("done"):
        log("flow: finished checkpoint found, skipping")
        return
    seed_everything(args.seed + 1)
    ids, owner, id_map = caption_table()
    widths = tuple(int(w) for w in args.widths.split(","))
    if args.from_shipped and state is None:
        text, unet = shipped_flow(OUT, tokenizer(), TOKENS, LATENT, widths)
        text, added = extend_id_map(text, id_map)
        log(f"flow: starting from the shipped text encoder and denoiser; {added} new token rows")
    else:
        # A checkpoint's encoder keeps the id map it was trained with (a fine-tune extends the shipped one).
        saved_map = state["text"]["id_map"] if state else id_map
        text, unet = TextEncoder(saved_map, length=TOKENS), FlowUNet(LATENT, widths=widths, tokens=TOKENS)
    text, unet = text.to(device), unet.to(device)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = Ema([text, unet], 0.999)
    first = 0
    if state:
        text.load_state_dict(state["text"]), unet.load_state_dict(state["unet"]), opt.load_state_dict(state["opt"])
        ema.shadow = state["ema"]
        first = state["step"]
        log(f"flow: resuming at step {first}")
    log(f"flow: text {sum(p.numel() for p in text.parameters()):,} + unet {sum(p.numel() for p in unet.parameters()):,} parameters, "
        f"{int(id_map.max())} token rows, {args.flow_steps} steps of {args.flow_batch}")
    latents = ((cached["latents"] - cached["shift"]) * cached["scale"]).to(device)
    encode = caption_encoder()
    ids = ids.to(device)
    rng = np.random.default_rng(args.seed + first)
    start, running = time.time(), 0.0
    for step in range(first, args.flow_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.flow_steps, args.lr)
        batch = rng.choice(train_idx, args.flow_batch)
        batch_ids = caption_ids(batch, ids, owner, rng, encode)
        x0 = latents[torch.from_numpy(batch).to(device)]
        noise = torch.randn_like(x0)
        t = torch.sigmoid(torch.randn(len(batch), device=device))
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        hidden, _ = text(batch_ids)
        v = unet(xt, t * 1000, hidden)
        loss = F.mse_loss(v, noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(min(0.999, (1 + step) / (10 + step)))
        running += loss.item()
        if (step + 1) % 100 == 0:
            log(f"flow step {step + 1}: loss {running / 100:.4f} lr {opt.param_groups[0]['lr']:.2e} ({(time.time() - start) / (step + 1 - first):.2f} s/step)")
            running = 0.0
        if (step + 1) % 1000 == 0 or step + 1 == args.flow_steps:
            torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow,
                        "step": step + 1, "done": step + 1 == args.flow_steps, "widths": widths,
                        "seconds": time.time() - start}, path)
            # The EMA weights alone, kept per step for the training curve (evaluate.py, EVAL_FLOW).
            torch.save({"ema": ema.shadow, "step": step + 1, "widths": widths, "seconds": time.time() - start},
                       os.path.join(CKPT, f"flow-snap-{step + 1}.pt"))
    log(f"flow: done in {time.time() - start:.0f} s")


# ---- 4. export ----------------------------------------------------------------------------------------
def export():
    ae = torch.load(os.path.join(CKPT, "autoencoder.pt"))
    cached = cache_latents()
    flow = torch.load(os.path.join(CKPT, "flow.pt"))
    id_map = flow["ema"][0]["id_map"]
    enc, dec = Encoder(LATENT), Decoder(LATENT)
    enc.load_state_dict(ae["encoder"]), dec.load_state_dict(ae["decoder"])
    text = TextEncoder(id_map, length=TOKENS)
    unet = FlowUNet(LATENT, widths=tuple(flow["widths"]), tokens=TOKENS)
    text.load_state_dict(flow["ema"][0]), unet.load_state_dict(flow["ema"][1])
    for m in (enc, dec, text, unet):
        m.eval()
    g = torch.Generator().manual_seed(7)
    ids = torch.tensor([tokenizer().encode_padded(p, TOKENS) for p in ["a grinning face", ""]], dtype=torch.long)
    sample = torch.randn(2, LATENT, 16, 16, generator=g)
    timestep = torch.tensor([800.0, 250.0])
    image = torch.rand(1, 3, SIZE, SIZE, generator=g) * 2 - 1
    with torch.no_grad():
        hidden, pooled = text(ids)
        outputs = {
            "text_encoder": [hidden, pooled],
            "denoiser": [unet(sample, timestep, hidden)],
            "vae_encoder": [enc(image)],
            "vae_decoder": [dec(sample[:1])],
        }
    spatial = {0: "batch", 2: "height", 3: "width"}
    jobs = [
        ("text_encoder", text, (ids,), ["input_ids"], ["last_hidden_state", "pooler_output"],
         {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}}),
        ("denoiser", unet, (sample, timestep, hidden), ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
         {"sample": spatial, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"}, "out_sample": spatial}),
        ("vae_encoder", enc, (image,), ["sample"], ["latent_parameters"], {"sample": spatial, "latent_parameters": spatial}),
        ("vae_decoder", DecodeWrapper(dec), (sample[:1],), ["latent_sample"], ["sample"], {"latent_sample": spatial, "sample": spatial}),
    ]
    for name, module, inputs, in_names, out_names, dynamic in jobs:
        file = os.path.join(OUT, f"{name}.onnx")
        torch.onnx.export(module, inputs, file, input_names=in_names, output_names=out_names, dynamic_axes=dynamic,
                          opset_version=17, do_constant_folding=True)
        log(f"export: {name}.onnx {os.path.getsize(file) / 1e6:.1f} MB")
    reference = {
        "inputs": {"input_ids": ids.tolist(), "sample": sample.flatten().tolist(), "timestep": timestep.tolist(),
                   "image": image.flatten().tolist()},
        "outputs": {k: [o.flatten().tolist() for o in v] for k, v in outputs.items()},
    }
    with open(os.path.join(ROOT, "..", "test", "fixtures", "flowbot-emoji-reference.json"), "w") as f:
        json.dump(reference, f)
    manifest = {
        "format": "flowbot-model", "version": 1, "name": "flowbot-emoji",
        "description": "flowbot's own small text-to-image model: a rectified-flow UNet in a 16x16x4 VAE latent space with a CLIP-tokenised text transformer, trained on permissively licensed emoji art.",
        "license": "Apache-2.0 (weights); training data: see MODEL_CARD.md",
        "components": {"text_encoder": "text_encoder.onnx", "denoiser": "denoiser.onnx", "vae_encoder": "vae_encoder.onnx", "vae_decoder": "vae_decoder.onnx"},
        "tokenizer": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt", "max_length": TOKENS, "pad_token_id": 49407},
        "latent": {"channels": LATENT, "downscale": 4, "scale": cached["scale"], "shift": cached["shift"]},
        "native_size": {"width": SIZE, "height": SIZE},
        "size_multiple": 16,
        "defaults": {"steps": 8, "guidance": 4.0, "scheduler": {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 1.0}},
        "prediction": "flow_prediction",
        "styles": meta["styles"],
        "training": {"autoencoder_psnr_db": ae["psnr"], "autoencoder_seconds": ae["seconds"], "flow_seconds": flow.get("seconds"),
                     "flow_steps": flow["step"], "device": str(device),
                     "fine_tuned_from_shipped": args.from_shipped, "paraphrase_share": args.paraphrase,
                     "decoder_steps": ae.get("decoder_steps", 0), "decoder_seconds": ae.get("decoder_seconds", 0.0)},
    }
    with open(os.path.join(OUT, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    log("export: model.json written")


if args.phase in ("all", "ae"):
    train_autoencoder()
if args.phase in ("all", "decoder") and args.decoder_steps > 0:
    finetune_decoder()
if args.phase in ("all", "cache", "flow"):
    cached_latents = cache_latents()
if args.phase in ("all", "flow"):
    train_flow(cached_latents)
if args.phase in ("all", "export"):
    export()
