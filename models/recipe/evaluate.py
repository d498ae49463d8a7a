#!/usr/bin/env python3
"""
`npm run eval:model` (in models/): measures the shipped model and writes MODEL_CARD.md, metrics.json and
the 16-prompt sample grid into models/flowbot-emoji/.

- Autoencoder: reconstruction PSNR on held-out images.
- A small classifier of the 98 emoji subcategories, trained on real training images; its accuracy on
  real held-out images is the reference.
- Prompt adherence: how often the classifier finds the prompted subcategory in images generated for 200
  held-out captions, as a fraction of the real-image accuracy, for wordings seen in training and for
  paraphrases that never were.
- Distribution distance: a Fréchet distance between classifier features of generated and real images.
- Both for 4, 8 and 16 steps and for guidance 1, 3 and 5, and at the shipped defaults (model.json).
- Honesty: how many of the evaluation's prompts equal a caption the model was trained on, the
  paraphrases of captions.py included (it should be 0).
Generation uses the exported weights (the EMA copy), the same Euler flow sampler as the runtime.

`EVAL_FLOW=checkpoints/flow-snap-2000.pt EVAL_QUICK=1` measures one checkpoint at the defaults only and
appends the row to checkpoints/curve.json (adherence against training steps); nothing else is written.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from captions import all_paraphrases  # noqa: E402
from clip_bpe import ClipBpe  # noqa: E402
from nets import Decoder, Encoder, FlowUNet, TextEncoder  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA, CKPT, OUT = os.path.join(ROOT, "dataset"), os.path.join(ROOT, "checkpoints"), os.path.join(ROOT, "flowbot-emoji")
torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
torch.manual_seed(0)
rng = np.random.default_rng(0)

meta = json.load(open(os.path.join(DATA, "meta.json")))
SIZE = meta["size"]
images = np.fromfile(os.path.join(DATA, "images.u8"), dtype=np.uint8).reshape(meta["count"], SIZE, SIZE, 3)
items = meta["items"]
train_idx = np.array([i for i, it in enumerate(items) if it["split"] == "train"])
held_idx = np.array([i for i, it in enumerate(items) if it["split"] == "heldout"])
labels = torch.tensor([it["subcategory"] for it in items])
classes = len(meta["subcategories"])


def to_tensor(batch):
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(127.5).sub(1)


# ---- models -----------------------------------------------------------------------------------------
manifest = json.load(open(os.path.join(OUT, "model.json")))
ae = torch.load(os.path.join(CKPT, "autoencoder.pt"))
FLOW_FILE = os.environ.get("EVAL_FLOW", os.path.join(CKPT, "flow.pt"))
QUICK = os.environ.get("EVAL_QUICK") == "1"
flow = torch.load(os.path.join(ROOT, FLOW_FILE))  # a relative EVAL_FLOW is under models/
enc, dec = Encoder(4), Decoder(4)
enc.load_state_dict(ae["encoder"]), dec.load_state_dict(ae["decoder"])
id_map = flow["ema"][0]["id_map"]
text = TextEncoder(id_map, length=32)
unet = FlowUNet(4, widths=tuple(flow["widths"]), tokens=32)
text.load_state_dict(flow["ema"][0]), unet.load_state_dict(flow["ema"][1])
for m in (enc, dec, text, unet):
    m.eval()
bpe = ClipBpe(os.path.join(OUT, "tokenizer", "vocab.json"), os.path.join(OUT, "tokenizer", "merges.txt"))
scale, shift = manifest["latent"]["scale"], manifest["latent"]["shift"]


def psnr(a, b):
    return 10 * math.log10(4 / max(F.mse_loss(a.clamp(-1, 1), b).item(), 1e-10))


with torch.no_grad():
    held = to_tensor(images[held_idx])
    ae_psnr = psnr(dec(enc(held)[:, :4]), held)
print(f"autoencoder held-out PSNR {ae_psnr:.2f} dB")


# ---- classifier -------------------------------------------------------------------------------------
class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        return self.head(self.features(x))


classifier = Classifier()
opt = torch.optim.AdamW(classifier.parameters(), 2e-3, weight_decay=1e-4)
start = time.time()
# One classifier for every evaluation of a run (checkpoints/classifier.pt), so that a training curve is
# measured with one ruler; the random draws are replayed so that the prompts chosen below stay the same.
classifier_file = os.path.join(CKPT, "classifier.pt")
cached_classifier = os.path.exists(classifier_file)
if cached_classifier:
    classifier.load_state_dict(torch.load(classifier_file))
for step in range(1500):
    batch = rng.choice(train_idx, 64)
    dx, dy = rng.integers(-4, 5, 2)
    if cached_classifier:
        continue
    x = to_tensor(images[batch])
    x = torch.roll(x, shifts=(int(dy), int(dx)), dims=(2, 3))
    loss = F.cross_entropy(classifier(x), labels[batch])
    opt.zero_grad()
    loss.backward()
    opt.step()
if not cached_classifier:
    torch.save(classifier.state_dict(), classifier_file)
classifier.eval()


def classify(x):
    with torch.no_grad():
        feats = torch.cat([classifier.features(x[i : i + 256]) for i in range(0, len(x), 256)])
        return classifier.head(feats).argmax(1), feats


real_pred, real_feats = classify(held)
real_acc = (real_pred == labels[held_idx]).float().mean().item()
print(f"classifier: held-out real accuracy {real_acc:.3f} ({time.time() - start:.0f} s)")


def frechet(a, b):
    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # sqrt of cov_a·cov_b via the eigen-decomposition of the symmetric sqrt(cov_a)·cov_b·sqrt(cov_a)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


# ---- held-out prompts -------------------------------------------------------------------------------
SYNONYMS = {"grinning": "smiling", "smiling": "happy", "face": "smiley", "cat": "kitty", "dog": "puppy", "red": "crimson",
            "heart": "love heart", "car": "automobile", "house": "home", "man": "guy", "woman": "lady", "big": "large",
            "small": "little", "flag": "banner", "arrow": "pointer", "button": "key", "hand": "palm", "tree": "plant",
            "with": "having", "and": "plus", "moon": "lunar", "sun": "sunny", "water": "aqua", "fire": "flames", "book": "novel"}


def paraphrase(item):
    words = item["name"].split()
    swapped = [SYNONYMS.get(w, w) for w in words]
    if swapped != words:
        return "a " + " ".join(swapped)
    keywords = [k for k in item["keywords"][2:] if k not in item["name"]]
    return f"a picture of {keywords[0]}" if keywords else f"the {item['name']} symbol"


chosen = rng.choice(held_idx, 200, replace=False)
seen_prompts = [items[i]["name"] for i in chosen]
para_prompts = [paraphrase(items[i]) for i in chosen]
target = labels[chosen]


def encode(prompts):
    ids = torch.tensor([bpe.encode_padded(p, 32) for p in prompts])
    with torch.no_grad():
        return text(ids)[0]


def generate(prompts, steps, guidance, seed=0):
    g = torch.Generator().manual_seed(seed)
    cond, uncond = encode(prompts), encode([""] * len(prompts))
    x = torch.randn(len(prompts), 4, SIZE // 4, SIZE // 4, generator=g)
    sigmas = torch.linspace(1.0, 0.001, steps).tolist() + [0.0]
    with torch.no_grad():
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            t = torch.full((len(prompts),), s * 1000)
            if guidance == 1:
                v = unet(x, t, cond)
            else:
                both = unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond]))
                c, u = both.chunk(2)
                v = u + guidance * (c - u)
            x = x + (s_next - s) * v
        return dec(x / scale + shift).clamp(-1, 1)


trained_captions = {c for i in train_idx for c in items[i]["captions"]} | {c for i in train_idx for c in all_paraphrases(items[i])}
prompts_in_training = {"seen": sum(p in trained_captions for p in seen_prompts),
                       "paraphrase": sum(p in trained_captions for p in para_prompts)}
print(f"evaluation prompts that are training captions: {prompts_in_training}")
defaults = (manifest["defaults"]["steps"], float(manifest["defaults"]["guidance"]))
settings = [defaults] if QUICK else [(s, g) for s in (4, 8, 16) for g in (1.0, 3.0, 5.0)] + [defaults]
results = []
for steps, guidance in dict.fromkeys(settings):
    row = {"steps": steps, "guidance": guidance, "defaults": (steps, guidance) == defaults}
    for name, prompts in (("seen", seen_prompts), ("paraphrase", para_prompts)):
        out = generate(prompts, steps, guidance)
        pred, feats = classify(out)
        acc = (pred == target).float().mean().item()
        row[f"{name}_accuracy"] = acc
        row[f"{name}_adherence"] = acc / real_acc
        if name == "seen":
            row["frechet"] = frechet(feats, real_feats)
    results.append(row)
    print(row)

if QUICK:
    curve_file = os.path.join(CKPT, "curve.json")
    curve = json.load(open(curve_file)) if os.path.exists(curve_file) else []
    curve.append({"checkpoint": os.path.basename(FLOW_FILE), "step": flow.get("step"), "seconds": flow.get("seconds"),
                  "autoencoder_psnr_db": ae_psnr, **results[0]})
    json.dump(curve, open(curve_file, "w"), indent=2)
    sys.exit(0)

# ---- sample grid of 16 held-out prompts -------------------------------------------------------------
sample_prompts = [items[i]["captions"][0] + (f" in {items[i]['style']} style" if k % 2 else "") for k, i in enumerate(chosen[:16])]
grid = generate(sample_prompts, manifest["defaults"]["steps"], manifest["defaults"]["guidance"], seed=1)
grid = ((grid + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
sheet = grid.reshape(4, 4, SIZE, SIZE, 3).transpose(0, 2, 1, 3, 4).reshape(4 * SIZE, 4 * SIZE, 3)
from PIL import Image  # noqa: E402  (Debian's python3-pil, pulled in by python3-torch)

Image.fromarray(sheet).resize((4 * SIZE * 2, 4 * SIZE * 2), Image.NEAREST).save(os.path.join(OUT, "samples.png"))
metrics = {
    "autoencoder_psnr_db": ae_psnr, "classifier_real_accuracy": real_acc, "grid": results, "sample_prompts": sample_prompts,
    "evaluation_prompts_in_training": prompts_in_training,
    "parameters": {"autoencoder": sum(p.numel() for p in enc.parameters()) + sum(p.numel() for p in dec.parameters()),
                   "text_encoder": sum(p.numel() for p in text.parameters()), "denoiser": sum(p.numel() for p in unet.parameters())},
}
with open(os.path.join(OUT, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)


def table(rows, columns):
    head = "| " + " | ".join(c for c, _ in columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    return head + "".join("| " + " | ".join(fmt(r) for _, fmt in columns) + " |\n" for r in rows)


sources = table(meta["sources"], [("Source (npm)", lambda s: f"`{s['label']}`"), ("Style word", lambda s: s["style"]),
                                    ("Licence", lambda s: s["license"]), ("Images", lambda s: str(s["images"]))])
quality = table(results, [("Steps", lambda r: str(r["steps"]) + (" *" if r.get("defaults") else "")), ("Guidance", lambda r: f"{r['guidance']:g}"),
                          ("Adherence, seen wordings", lambda r: f"{r['seen_adherence']:.2f}"),
                          ("Adherence, paraphrases", lambda r: f"{r['paraphrase_adherence']:.2f}"),
                          ("Fréchet distance", lambda r: f"{r['frechet']:.1f}")])
training = manifest.get("training", {})
upscale_file = os.path.join(OUT, "upscale-metrics.json")
upscale = json.load(open(upscale_file)) if os.path.exists(upscale_file) else []
upscale_table = table(upscale, [("Protocol", lambda u: u.get("protocol", "held-out 64 px art, shrunk to 16 px, x4")), ("Upscaler", lambda u: u["name"]), ("PSNR (dB)", lambda u: f"{u['psnr']:.2f}"), ("SSIM", lambda u: f"{u['ssim']:.3f}")]) if upscale else "Run `npm run eval:model` to fill this in.\n"
if training.get("fine_tuned_from_shipped"):
    hours = "about three hours"
    training_text = f"""`cd models && npm run data:build && npm run train` trains from scratch (see `recipe/`). This version was
made in two stages, on {training.get('device', 'cpu')} with 2 cores:

- **v1**: the autoencoder, 2,400 steps of 32 (30 min); the text encoder and UNet, 8,000 steps of 64 (72 min).
- **v2** (`npm run train:finetune`): from v1's weights, recovered from its ONNX files (`recipe/from_onnx.py`,
  exact to 2e-6), the decoder alone on the frozen encoder's latents, {training.get('decoder_steps', 0):,} steps of 32
  ({training.get('decoder_seconds', 0) / 60:.0f} min); then the text encoder and UNet, {training.get('flow_steps'):,} steps of 64
  ({(training.get('flow_seconds') or 0) / 60:.0f} min), with {training.get('paraphrase_share', 0):.0%} of the captions paraphrased.

Seeds are fixed; losses are in `checkpoints/train.log`.
"""
else:
    hours = "about two hours"
    training_text = f"""`cd models && npm run data:build && npm run train` (see `recipe/`). Hardware: {training.get('device', 'cpu')}, 2 cores.
Autoencoder {training.get('autoencoder_seconds', 0) / 60:.0f} min; flow model {training.get('flow_steps')} steps of 64 in
{(training.get('flow_seconds') or 0) / 60:.0f} min. Seeds are fixed; losses are in `checkpoints/train.log`.
"""
paraphrase_line = ("Half of the training captions are paraphrases (`recipe/captions.py`): every emojilib keyword of\n"
                   "  the image's emoji, alone or after its name, in framings such as \"an image of …\" or \"… icon\".") \
    if training.get("paraphrase_share") else ""
curve_file = os.path.join(CKPT, "curve.json")
curve = sorted(json.load(open(curve_file)), key=lambda r: r["step"] or 0) if os.path.exists(curve_file) else []
curve_text = ("\nAdherence at the defaults during v2's fine-tuning (step 0 is v1):\n\n" + table(curve, [
    ("Fine-tuning steps", lambda r: str(r["step"] or 0)),
    ("Adherence, seen wordings", lambda r: f"{r['seen_adherence']:.2f}"),
    ("Adherence, paraphrases", lambda r: f"{r['paraphrase_adherence']:.2f}"),
    ("Fréchet distance", lambda r: f"{r['frechet']:.1f}")])) if curve else ""
card = f"""# flowbot-emoji

flowbot's own small text-to-image model. It turns a short prompt such as "grinning face in 3d style" into a
{SIZE}x{SIZE} emoji-style picture on a CPU in well under a second, so that `npm install && npm start`
works without downloading any model. It is a toy next to Stable Diffusion, trained for {hours} on
a 2-core CPU, and it only knows emoji.

![16 held-out prompts](samples.png)

*16 prompts of emoji never seen in training (default settings: {manifest['defaults']['steps']} steps, guidance {manifest['defaults']['guidance']:g}):*
{'; '.join(sample_prompts)}.

## Architecture

The recipe of today's latent flow-matching generators at toy scale:

- **Autoencoder** (VAE with a tiny KL term): {SIZE}x{SIZE} RGB <-> 16x16x4 latents, {metrics['parameters']['autoencoder']:,} parameters.
  Latents are normalised with shift {shift:.4f} and scale {scale:.4f}.
- **Text encoder**: CLIP's BPE tokenizer (OpenAI's vocabulary, MIT) feeding a 2-layer causal transformer
  (width 128), trained jointly with the denoiser; {metrics['parameters']['text_encoder']:,} parameters. Only the
  token ids seen in training captions have rows; others share an "unknown" row. Prompts are cut to 32 tokens.
  {paraphrase_line}
- **Denoiser**: a rectified-flow UNet (patchified 2x2, levels of 8x8 and 4x4, adaptive group norm from
  time and text, cross-attention to the text tokens), {metrics['parameters']['denoiser']:,} parameters. Trained on
  x_t = (1 - t)·x0 + t·ε with target v = ε - x0, t logit-normal, 10% caption dropout for classifier-free
  guidance; EMA weights are shipped. A UNet rather than a DiT because steps decide quality on a CPU: a
  training step of this 5.7M-parameter UNet at batch 64 measured 0.38 s on 2 threads, while the planning
  figure for a 4.8M-parameter transformer at 64 tokens was 1.1 s on one thread; a DiT was not trained
  here for comparison.
- **Sampling**: Euler on the flow (diffusers' FlowMatchEulerDiscreteScheduler, shift 1), 8 steps and
  guidance 4 by default.
- **Upscalers**: `emoji-sr/` (the default), a x4 residual CNN (375k parameters) trained here by
  `recipe/train_sr.py` on pairs of 64 px and 256 px renders of the same vector emoji, plus 64 px images
  shrunk to 16 px; held-out emoji never seen. ESRGAN slim and medium x4 from UpscalerJS (MIT, trained on
  DIV2K), converted from TF.js to ONNX (`esrgan-slim/`, `esrgan-medium/`), remain as alternatives.

Native resolution: **{SIZE}x{SIZE}** (128x128 did not fit the 2-hour CPU budget).

## Data

{meta['count']:,} images in {len(meta['styles'])} styles, composited onto white at {SIZE} px, of the
{len(meta['subcategories'])} emoji subcategories. 5% of the emoji (by code point hash) are held out of
training for evaluation. Captions come from `emoji-datasource`'s emoji.json (names, categories) and
`emojilib`'s keywords; each image has several caption variants, and a style word ("... in 3d style").
Apple and Facebook images are not used: their licence does not allow it.

{sources}
Attribution: Noto Emoji © Google (Apache-2.0); Twemoji © Twitter, Inc. and contributors (CC-BY-4.0);
Fluent Emoji © Microsoft (MIT); FxEmoji © Mozilla (Apache-2.0); EmojiOne © Ranks.com / JoyPixels
(CC-BY-4.0); Fluent Emoji 3D via @lobehub/fluent-emoji-3d (MIT). The model's outputs are derived
from these works; keep their notices when you redistribute it.

## Training

{training_text}

## Quality (`npm run eval:model`)

- Autoencoder reconstruction PSNR on held-out images: **{ae_psnr:.2f} dB**.
- A small CNN classifier of the {classes} subcategories, trained on real images: **{real_acc:.3f}** accuracy on
  real held-out images (the reference for adherence).
- Prompt adherence = the classifier's accuracy on images generated for 200 held-out captions ÷ its
  accuracy on real held-out images; "seen wordings" use the caption forms of training ("grinning face"),
  "paraphrases" reword them ("a smiling smiley"). Fréchet distance on the classifier's 128-d features,
  generated (seen wordings) against real held-out images.

{quality}
The row marked * is the shipped default. None of the emoji evaluated is trained on. Of the 200 paraphrases,
{prompts_in_training['paraphrase']} equal a training caption; of the 200 seen wordings (held-out emoji's names),
{prompts_in_training['seen']} are also a keyword of some training emoji (such as "fire" or "baby"), so they appear as captions.
{curve_text}
Upscalers: PSNR and SSIM against the original, for held-out art shrunk x4 (Lanczos) then upscaled x4, and
for held-out 64 px renders upscaled x4 against the 256 px render of the same vector emoji (the way chat
uses them: the generator makes 64 px).

{upscale_table}
## Limits

Emoji only, {SIZE} px; text in images does not work; rare words fall back to the "unknown" token.
"""
with open(os.path.join(OUT, "MODEL_CARD.md"), "w") as f:
    f.write(card)
print("wrote metrics.json, samples.png and MODEL_CARD.md")
