"""
Writes models/flowbot-emoji/MODEL_CARD.md from what evaluate.py measured (metrics.json), the data build
(meta.json) and model.json's training record. Called by evaluate.py; nothing here measures.
"""
import json
import os


def table(rows, columns):
    head = "| " + " | ".join(c for c, _ in columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    return head + "".join("| " + " | ".join(fmt(r) for _, fmt in columns) + " |\n" for r in rows)


def quality_columns(first):
    return [first, ("Adherence, seen wordings", lambda r: f"{r['seen_adherence']:.2f}"),
            ("Adherence, paraphrases", lambda r: f"{r['paraphrase_adherence']:.2f}"),
            ("Fréchet distance", lambda r: f"{r['frechet']:.1f}")]


def grid_table(rows):
    names = {"v3": "v3", "v3-draft": "v3 draft", "v2": "v2"}
    columns = [("Model", lambda r: names[r["model"]]), ("Steps", lambda r: f"{r['steps']}{' *' if r.get('defaults') else ''}"),
               *quality_columns(("Guidance", lambda r: f"{r['guidance']:g}"))]
    return table(rows, columns)


def curve_table(rows, label):
    return table(rows, quality_columns((label, lambda r: str(r["step"]))))


def minutes(seconds):
    return f"{(seconds or 0) / 60:.0f} min"


def write_card(out, meta, manifest, metrics):
    size = meta["size"]
    training = manifest.get("training", {})
    grid = metrics["grid"]
    best = {r["model"]: r for r in grid if r.get("defaults")}
    v2 = next(r for r in grid if r["model"] == "v2")
    teacher_curve = [r for r in metrics["curve"] if not r.get("draft")]
    student_curve = [r for r in metrics["curve"] if r.get("draft")]
    sources = table(meta["sources"], [("Source (npm)", lambda s: f"`{s['label']}`"), ("Style word", lambda s: s["style"]),
                                      ("Licence", lambda s: s["license"]), ("Images", lambda s: str(s["images"]))])
    upscale_file = os.path.join(out, "upscale-metrics.json")
    upscale = json.load(open(upscale_file)) if os.path.exists(upscale_file) else []
    upscale_table = table(upscale, [("Protocol", lambda u: u.get("protocol", "held-out 64 px art, shrunk to 16 px, x4")),
                                    ("Upscaler", lambda u: u["name"]), ("PSNR (dB)", lambda u: f"{u['psnr']:.2f}"),
                                    ("SSIM", lambda u: f"{u['ssim']:.3f}")])
    params = metrics["parameters"]
    prompts_in_training = metrics["evaluation_prompts_in_training"]
    curves = ""
    if teacher_curve:
        curves += ("\nv3 during its fine-tuning, at 8 steps and guidance 4 ("
                   f"steps 1–{training.get('stage_a_steps', 0)} train only the projections and the cross-attention):\n\n"
                   + curve_table(teacher_curve, "Fine-tuning steps"))
    if student_curve:
        curves += "\nThe draft student during reflow, at 2 steps without guidance:\n\n" + curve_table(student_curve, "Reflow steps")
    restart = (f" (planned as {training['teacher_restart_step']:,} steps and then extended: the learning rate restarts"
               f" at step {training['teacher_restart_step']:,})") if training.get("teacher_restart_step") else ""
    card = f"""# flowbot-emoji

flowbot's own small text-to-image model. It turns a short prompt such as "a slice of pizza" into a
{size}x{size} emoji-style picture on a CPU in well under a second, so that `npm install && npm start`
works without downloading any model. It is a toy next to Stable Diffusion, trained for a few hours on a
2-core CPU, and it only knows emoji. Version 3 reads prompts with a pretrained sentence encoder
(all-MiniLM-L6-v2, `../minilm-l6`) and has a two-step draft model for `--draft`.

![16 held-out prompts](samples.png)

*16 prompts of emoji never seen in training (default settings: {manifest['defaults']['steps']} steps, guidance {manifest['defaults']['guidance']:g}):*
{'; '.join(metrics['sample_prompts'])}.

![v2, v3 and v3's draft](compare.png)

*Free wordings, same seed: v2 (top, 8 steps), v3 (middle, 8 steps), v3's draft (bottom, 2 steps):*
{'; '.join(metrics['compare_prompts'])}.

## Architecture

The recipe of today's latent flow-matching generators at toy scale:

- **Autoencoder** (VAE with a tiny KL term, unchanged since v2): {size}x{size} RGB <-> 16x16x4 latents,
  {params['autoencoder']:,} parameters. Latents are normalised with shift {manifest['latent']['shift']:.4f} and scale {manifest['latent']['scale']:.4f}.
- **Text encoder**: all-MiniLM-L6-v2 ({params['text_encoder']:,} parameters, frozen), the sentence encoder flowbot
  also reads replies with (`models/minilm-l6`, Apache-2.0, its card says where it comes from). Its WordPiece
  tokenizer; prompts are cut to {manifest['tokenizer']['max_length']} tokens keeping `[SEP]` last. Its token states
  (rows past the prompt zero) and its pooled sentence vector condition the denoiser.
- **Denoiser**: a rectified-flow UNet (patchified 2x2, levels of 8x8 and 4x4, cross-attention at 4x4),
  {params['denoiser']:,} parameters. A learned projection (384 -> 128, LayerNorm) turns the encoder's token
  states into what the cross-attention reads; a second one (384 -> 256) turns the pooled sentence vector into
  the adaptive group norms' condition, with the timestep. Trained on x_t = (1 - t)·x0 + t·ε with target
  v = ε - x0, t logit-normal, 10% empty captions for classifier-free guidance; EMA weights are shipped.
- **Draft denoiser**: the same network ({params['draft_denoiser']:,} parameters), distilled from the denoiser by
  reflow (rectified flow): trained on (noise, teacher image) pairs, the teacher's own 8-step, guidance-4
  samples, so that its paths are straight and two Euler steps without guidance land where the teacher's
  eight guided steps do for the same noise. `--draft` and the playground's quick preview use it, and a
  draft's **Enhance** makes the full image from the same seed.
- **Sampling**: Euler on the flow (diffusers' FlowMatchEulerDiscreteScheduler, shift 1): 8 steps and
  guidance 4 by default; drafts 2 steps, guidance 1 (one pass per step).
- **Weights** are stored as fp16 behind a Cast that ONNX Runtime folds when the session loads (arithmetic
  stays fp32); every figure below is measured with the rounded weights.
- **Upscalers**: `emoji-sr/` (the default), a x4 residual CNN (375k parameters) trained here by
  `recipe/train_sr.py`; ESRGAN slim and medium x4 from UpscalerJS (MIT) remain as alternatives.

Native resolution: **{size}x{size}**.

## Data

{meta['count']:,} images in {len(meta['styles'])} styles, composited onto white at {size} px, of the
{len(meta['subcategories'])} emoji subcategories. 5% of the emoji (by code point hash) are held out of
training for evaluation. Captions come from `emoji-datasource`'s emoji.json (names, categories) and
`emojilib`'s keywords; each image has several caption variants, and a style word ("... in 3d style").
Half of the training captions are paraphrases (`recipe/captions.py`): every emojilib keyword of the
image's emoji, alone or after its name, in framings such as "an image of …" or "… icon".
Apple and Facebook images are not used: their licence does not allow it.

{sources}
Attribution: Noto Emoji © Google (Apache-2.0); Twemoji © Twitter, Inc. and contributors (CC-BY-4.0);
Fluent Emoji © Microsoft (MIT); FxEmoji © Mozilla (Apache-2.0); EmojiOne © Ranks.com / JoyPixels
(CC-BY-4.0); Fluent Emoji 3D via @lobehub/fluent-emoji-3d (MIT). The model's outputs are derived
from these works; keep their notices when you redistribute it.

## Training

On {training.get('device', 'cpu')} with {training.get('threads', 2)} cores:

- **v1**: the autoencoder, 2,400 steps of 32 (30 min); a CLIP-tokenised text transformer and the UNet, 8,000
  steps of 64 (72 min).
- **v2**: the decoder alone, 600 steps of 32 (17 min); the text transformer and UNet, 6,000 steps of 64
  (73 min), half the captions paraphrased.
- **v3** (`npm run train:v3`, `recipe/v3.py`): {training.get('captions', 0):,} caption texts (every caption form of
  the training images and {training.get('paraphrases_per_image', 0)} sampled paraphrases each) encoded once by the
  shipped encoder graph; from v2's UNet, {training.get('stage_a_steps', 0):,} steps training only the new projections and the
  cross-attention, then everything, {training.get('teacher_steps', 0):,} steps of {training.get('batch', 64)} in all
  ({minutes(training.get('teacher_seconds'))}), encoder frozen, half the captions paraphrased{restart}. Then
  {training.get('reflow_pairs', 0):,} teacher samples ({minutes(training.get('reflow_pairs_seconds'))}) and
  {training.get('student_steps', 0):,} reflow steps of {training.get('batch', 64)} for the draft student
  ({minutes(training.get('student_seconds'))}), 70% of them at σ = 1, the draft's first step.

Seeds are fixed; losses are in `checkpoints/v3/train.log`.

## Quality (`npm run eval:model`)

- Autoencoder reconstruction PSNR on held-out images: **{metrics['autoencoder_psnr_db']:.2f} dB** (fp16 weights).
- A small CNN classifier of the {len(meta['subcategories'])} subcategories, trained on real images: **{metrics['classifier_real_accuracy']:.3f}**
  accuracy on real held-out images (the reference for adherence). It is trained with the seeds and the torch
  that measured v1 and v2, so v2's row below is measured with the same ruler as v3's.
- Prompt adherence = the classifier's accuracy on images generated for 200 held-out captions ÷ its
  accuracy on real held-out images; "seen wordings" use the caption forms of training ("grinning face"),
  "paraphrases" reword them ("a smiling smiley"). Fréchet distance on the classifier's 128-d features,
  generated (seen wordings) against real held-out images.

{grid_table(grid)}
Rows marked * are the shipped defaults (v3: {best['v3']['steps']} steps, guidance {best['v3']['guidance']:g};
draft: {best['v3-draft']['steps']} steps, no guidance); draft rows use the draft denoiser. At the defaults v3 moves
paraphrase adherence from {v2['paraphrase_adherence']:.2f} to {best['v3']['paraphrase_adherence']:.2f}, seen wordings from
{v2['seen_adherence']:.2f} to {best['v3']['seen_adherence']:.2f} and the Fréchet distance from {v2['frechet']:.1f} to
{best['v3']['frechet']:.1f}. None of the emoji evaluated is trained on. Of the 200 paraphrases,
{prompts_in_training['paraphrase']} equal a training caption; of the 200 seen wordings (held-out emoji's names),
{prompts_in_training['seen']} are also a keyword of some training emoji (such as "fire" or "baby"), so they appear as captions.

A draft previews the full image of its seed: over the 200 seen wordings its mean pixel distance (0–255) to
the 8-step image from the same noise is {metrics['draft_nearness']['same_seed']:.1f}, against
{metrics['draft_nearness']['other_seed']:.1f} to the 8-step image of the same prompt from other noise.
{curves}
Upscalers: PSNR and SSIM against the original, for held-out art shrunk x4 (Lanczos) then upscaled x4, and
for held-out 64 px renders upscaled x4 against the 256 px render of the same vector emoji.

{upscale_table}
## Limits

Emoji only, {size} px; text in images does not work. The encoder knows English words it was never shown
with an emoji, but the denoiser only draws what the emoji it saw look like.
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as f:
        f.write(card)
