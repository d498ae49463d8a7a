#!/usr/bin/env python3
"""
`npm run eval:model` (in models/): measures the shipped model and writes metrics.json, samples.png,
compare.png and (through model_card.py) MODEL_CARD.md into models/flowbot-emoji/.

- Autoencoder: reconstruction PSNR on held-out images.
- A small classifier of the 98 emoji subcategories, trained on real training images; its accuracy on
  real held-out images is the reference. It is the ruler of every figure: trained once per run with the
  seeds and the torch (Debian's python3-torch 1.13) that measured v1 and v2, so v2's figures reproduce.
- Prompt adherence: how often the classifier finds the prompted subcategory in images generated for 200
  held-out captions, as a fraction of the real-image accuracy, for wordings seen in training and for
  paraphrases that never were. Fréchet distance between classifier features of generated and real images.
- v3 (the 8-step denoiser) for 4, 8 and 16 steps and guidance 1, 3 and 5 and at the defaults; the draft
  student at 1, 2 and 4 steps without guidance (rows marked "draft": true); v2 at its defaults, on the
  same ruler, for the side by side.
- Honesty: how many of the evaluation's prompts equal a caption the model was trained on (paraphrases
  of captions.py included).
Generation uses the fp16-rounded EMA weights the export ships and the runtime's Euler flow sampler.
v3's prompts are encoded beforehand by v3_states.py (ONNX Runtime lives in the recipe's environment).

`EVAL_FLOW=checkpoints/v3/teacher-snap-1000.pt EVAL_QUICK=1` measures one checkpoint at its defaults only
(a student snapshot at 2 steps) and appends the row to checkpoints/v3/curve.json; nothing else is written.
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
from eval_prompts import COMPARE_PROMPTS, paraphrase, sample_prompt  # noqa: E402
from nets import ConditionedUNet, Decoder, Encoder, FlowUNet, TextEncoder, round_to_half  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA, CKPT, OUT = os.path.join(ROOT, "dataset"), os.path.join(ROOT, "checkpoints"), os.path.join(ROOT, "flowbot-emoji")
V2, V3 = os.path.join(CKPT, "v2"), os.path.join(CKPT, "v3")
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
QUICK = os.environ.get("EVAL_QUICK") == "1"


def to_tensor(batch):
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(127.5).sub(1)


# ---- models (v2's are built first, in v2's order: the classifier's initial weights follow them) ------
v2_weights = torch.load(os.path.join(V2, "v2-weights.pt"))
manifest = json.load(open(os.path.join(OUT, "model.json")))
enc, dec = Encoder(4), Decoder(4)
enc.load_state_dict(v2_weights["encoder"]), dec.load_state_dict(v2_weights["decoder"])
v2_text = TextEncoder(v2_weights["text"]["id_map"], length=32)
v2_unet = FlowUNet(4, widths=(128, 256), tokens=32)
v2_text.load_state_dict(v2_weights["text"]), v2_unet.load_state_dict(v2_weights["unet"])
for m in (enc, dec, v2_text, v2_unet):
    m.eval()
enc, dec = round_to_half(enc), round_to_half(dec)  # v3 ships v2's VAE in fp16
v2_bpe = ClipBpe(os.path.join(V2, "tokenizer", "vocab.json"), os.path.join(V2, "tokenizer", "merges.txt"))
scale, shift = manifest["latent"]["scale"], manifest["latent"]["shift"]


class V2Model:
    """v2: CLIP BPE ids through its own text transformer."""

    def encode(self, prompts):
        ids = torch.tensor([v2_bpe.encode_padded(p, 32) for p in prompts])
        with torch.no_grad():
            return (v2_text(ids)[0],)

    def velocity(self, x, t, cond):
        return v2_unet(x, t, *cond)


class V3Model:
    """v3 and its draft student: the sentence encoder's states (encoded by v3_states.py)."""

    def __init__(self, file):
        state = torch.load(file)
        self.unet = ConditionedUNet(4, widths=(128, 256), tokens=32)
        self.unet.load_state_dict(state["ema"])
        self.unet = round_to_half(self.unet)
        self.step, self.seconds = state.get("step"), state.get("seconds")

    def encode(self, prompts):
        rows = [STATE_ROW[p] for p in prompts]
        return torch.from_numpy(STATES["states"][rows]).float(), torch.from_numpy(STATES["pooled"][rows]).float()

    def velocity(self, x, t, cond):
        return self.unet(x, t, *cond)


STATES = np.load(os.path.join(V3, "eval-states.npz"))
STATE_ROW = {str(t): i for i, t in enumerate(STATES["texts"])}


def psnr(a, b):
    return 10 * math.log10(4 / max(F.mse_loss(a.clamp(-1, 1), b).item(), 1e-10))


with torch.no_grad():
    held = to_tensor(images[held_idx])
    ae_psnr = psnr(dec(enc(held)[:, :4]), held)
print(f"autoencoder held-out PSNR {ae_psnr:.2f} dB (fp16 weights)")


# ---- classifier (the ruler) -------------------------------------------------------------------------
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
# One classifier for every evaluation of a run (checkpoints/classifier.pt); the random draws are replayed
# so that the prompts chosen below stay the same.
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


# ---- held-out prompts and generation ----------------------------------------------------------------
chosen = rng.choice(held_idx, 200, replace=False)
seen_prompts = [items[i]["name"] for i in chosen]
para_prompts = [paraphrase(items[i]) for i in chosen]
target = labels[chosen]


def generate(model, prompts, steps, guidance, seed=0):
    """The runtime's sampler: Euler on σ = linspace(1, 0.001, steps) then 0, guidance u + g·(c − u)."""
    g = torch.Generator().manual_seed(seed)
    cond = model.encode(prompts)
    uncond = model.encode([""] * len(prompts)) if guidance != 1 else None
    x = torch.randn(len(prompts), 4, SIZE // 4, SIZE // 4, generator=g)
    sigmas = torch.linspace(1.0, 0.001, steps).tolist() + [0.0]
    with torch.no_grad():
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            t = torch.full((len(prompts),), s * 1000)
            if uncond is None:
                v = model.velocity(x, t, cond)
            else:
                both = model.velocity(torch.cat([x, x]), torch.cat([t, t]), tuple(torch.cat([c, u]) for c, u in zip(cond, uncond)))
                c, u = both.chunk(2)
                v = u + guidance * (c - u)
            x = x + (s_next - s) * v
        return dec(x / scale + shift).clamp(-1, 1)


def measure(generator, steps, guidance, **marks):
    row = {"steps": steps, "guidance": guidance, **marks}
    for name, prompts in (("seen", seen_prompts), ("paraphrase", para_prompts)):
        pred, feats = classify(generate(generator, prompts, steps, guidance))
        acc = (pred == target).float().mean().item()
        row[f"{name}_accuracy"], row[f"{name}_adherence"] = acc, acc / real_acc
        if name == "seen":
            row["frechet"] = frechet(feats, real_feats)
    print(row, flush=True)
    return row


defaults = (manifest["defaults"]["steps"], float(manifest["defaults"]["guidance"]))
draft_defaults = (manifest["defaults"]["draft_steps"], float(manifest["defaults"].get("draft_guidance", 1.0)))

if QUICK:
    file = os.path.join(ROOT, os.environ["EVAL_FLOW"])  # relative to models/
    draft = os.path.basename(file).startswith("student")
    model = V3Model(file)
    row = measure(model, *(draft_defaults if draft else defaults), draft=draft)
    curve_file = os.path.join(V3, "curve.json")
    curve = json.load(open(curve_file)) if os.path.exists(curve_file) else []
    curve.append({"checkpoint": os.path.basename(file), "step": model.step, "seconds": model.seconds, **row})
    json.dump(curve, open(curve_file, "w"), indent=2)
    sys.exit(0)

trained_captions = {c for i in train_idx for c in items[i]["captions"]} | {c for i in train_idx for c in all_paraphrases(items[i])}
prompts_in_training = {"seen": sum(p in trained_captions for p in seen_prompts),
                       "paraphrase": sum(p in trained_captions for p in para_prompts)}
print(f"evaluation prompts that are training captions: {prompts_in_training}")
teacher, student, v2 = V3Model(os.path.join(V3, "teacher.pt")), V3Model(os.path.join(V3, "student.pt")), V2Model()
results = [measure(teacher, s, g, model="v3", defaults=(s, g) == defaults)
           for s, g in dict.fromkeys([(s, g) for s in (4, 8, 16) for g in (1.0, 3.0, 5.0)] + [defaults])]
results += [measure(student, s, 1.0, model="v3-draft", draft=True, defaults=(s, 1.0) == draft_defaults) for s in (1, 2, 4)]
results.append(measure(v2, 8, 4.0, model="v2", defaults=False))
# A draft is meant to preview the full image of its seed: its mean pixel distance (0-255) to that image,
# and to the full image of the same prompt from other noise, over the 200 seen wordings.
draft_images = generate(student, seen_prompts, *draft_defaults)
draft_nearness = {"same_seed": (draft_images - generate(teacher, seen_prompts, *defaults)).abs().mean().item() * 127.5,
                  "other_seed": (draft_images - generate(teacher, seen_prompts, *defaults, seed=1)).abs().mean().item() * 127.5}
print(f"draft nearness: {draft_nearness}")


# ---- pictures ---------------------------------------------------------------------------------------
def sheet(batch, columns):
    batch = ((batch + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    rows = len(batch) // columns
    return batch.reshape(rows, columns, SIZE, SIZE, 3).transpose(0, 2, 1, 3, 4).reshape(rows * SIZE, columns * SIZE, 3)


from PIL import Image  # noqa: E402  (Debian's python3-pil, pulled in by python3-torch)

sample_prompts = [sample_prompt(items[i], k) for k, i in enumerate(chosen[:16])]
picture = sheet(generate(teacher, sample_prompts, *defaults, seed=1), 4)
Image.fromarray(picture).resize((picture.shape[1] * 2, picture.shape[0] * 2), Image.NEAREST).save(os.path.join(OUT, "samples.png"))
# v2 (8 steps), v3 (8 steps) and v3's draft (2 steps) on the same prompts and seed, one row each.
compare = torch.cat([generate(v2, COMPARE_PROMPTS, *defaults, seed=1), generate(teacher, COMPARE_PROMPTS, *defaults, seed=1),
                     generate(student, COMPARE_PROMPTS, *draft_defaults, seed=1)])
picture = sheet(compare, len(COMPARE_PROMPTS))
Image.fromarray(picture).resize((picture.shape[1] * 2, picture.shape[0] * 2), Image.NEAREST).save(os.path.join(OUT, "compare.png"))

curve_file = os.path.join(V3, "curve.json")
metrics = {
    "autoencoder_psnr_db": ae_psnr, "classifier_real_accuracy": real_acc, "grid": results, "sample_prompts": sample_prompts,
    "compare_prompts": COMPARE_PROMPTS, "evaluation_prompts_in_training": prompts_in_training, "draft_nearness": draft_nearness,
    "curve": sorted(json.load(open(curve_file)), key=lambda r: (r.get("draft", False), r["step"] or 0)) if os.path.exists(curve_file) else [],
    "parameters": {"autoencoder": sum(p.numel() for p in enc.parameters()) + sum(p.numel() for p in dec.parameters()),
                   "text_encoder": 22_565_376,  # models/minilm-l6 (its graph, without the unused pooler)
                   "denoiser": sum(p.numel() for p in teacher.unet.parameters()),
                   "draft_denoiser": sum(p.numel() for p in student.unet.parameters())},
}
with open(os.path.join(OUT, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
from model_card import write_card  # noqa: E402

write_card(OUT, meta, manifest, metrics)
print("wrote metrics.json, samples.png, compare.png and MODEL_CARD.md")
