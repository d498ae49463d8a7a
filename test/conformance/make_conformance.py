"""Conformance fixtures: tiny random-weight pipelines, exported by optimum's own ONNX exporter, and
diffusers' own pipelines (PyTorch, float32, CPU) as the reference for each case.

Run with `npm run conformance:make` (it makes the virtual environment from requirements.txt once).
No hub: the CLIP tokenizer comes from test/fixtures/clip/ (a copy of the shared CLIP vocabulary).

For each family folder it:
  1. builds the pipeline from configs with random weights (fixed seed) and `save_pretrained`s it;
  2. exports it with `optimum-cli export onnx --model <saved> <out>`, the command the README gives hosts;
  3. runs diffusers' pipeline for each reference case with the initial noise drawn here and saved, so
     that flowbot's test can feed the same noise (random-number generators do not matter).

Writes test/conformance/models/<folder>/ (the optimum export) and test/conformance/references/<folder>.json.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

import diffusers
from diffusers import (
    AutoencoderKL,
    PNDMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.models.autoencoders import vae as vae_module
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
CLIP = os.path.join(HERE, "..", "fixtures", "clip")
MODELS = os.path.join(HERE, "models")
REFERENCES = os.path.join(HERE, "references")
WIDTH, HEIGHT = 96, 64  # non-square on purpose

# diffusers samples the VAE's latent distribution when it encodes an image; flowbot (like optimum's
# exported vae_encoder and its ORT pipelines) takes the mean. The reference does too, so the cases
# compare everything else; flowbot's test says so.
vae_module.DiagonalGaussianDistribution.sample = lambda self, generator=None: self.mode()


# ---- tiny components ----------------------------------------------------------------------------

def clip_text(seed):
    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=77, projection_dim=8,
                            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    return CLIPTextModel(config).eval()


def clip_tokenizer():
    return CLIPTokenizer(os.path.join(CLIP, "vocab.json"), os.path.join(CLIP, "merges.txt"),
                         pad_token="<|endoftext|>", model_max_length=77)


def unet(seed, in_channels=4, cross=8):
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross, attention_head_dim=4).eval()


def vae(seed):
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
        block_out_channels=(4, 4, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=64).eval()


def sd15_scheduler():
    """As runwayml/stable-diffusion-v1-5 ships it."""
    return PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         num_train_timesteps=1000, set_alpha_to_one=False, skip_prk_steps=True,
                         steps_offset=1, prediction_type="epsilon")


def sd_pipeline(seed, scheduler):
    return StableDiffusionPipeline(
        vae=vae(seed), text_encoder=clip_text(seed + 1), tokenizer=clip_tokenizer(),
        unet=unet(seed + 2), scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)


# ---- export -------------------------------------------------------------------------------------

def export(pipe, name, task="text-to-image"):
    """save_pretrained, then optimum's exporter with the README's command. A local folder needs --task
    (optimum infers it only for a Hub id)."""
    out = os.path.join(MODELS, name)
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory() as saved:
        pipe.save_pretrained(saved, safe_serialization=True)
        cli = os.path.join(os.path.dirname(sys.executable), "optimum-cli")
        subprocess.run([cli, "export", "onnx", "--model", saved, "--task", task, out], check=True)
    return out


# ---- reference cases ----------------------------------------------------------------------------

def source_image():
    """A smooth, deterministic RGB picture at the case size (uint8)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rgb = np.stack([x / WIDTH, y / HEIGHT, 0.5 + 0.5 * np.sin((x + y) / 9.0)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def mask_image():
    """1 = repaint: a block aligned to the 8-pixel latent grid (see the test for why)."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[16:48, 24:64] = 255
    return mask


class NoiseRecorder:
    """Replaces randn_tensor in a pipeline module with one that returns (and records) our noise."""

    def __init__(self, module, noise):
        self.module, self.noise = module, noise

    def __enter__(self):
        self.original = self.module.randn_tensor
        self.module.randn_tensor = lambda shape, **kw: self.noise.reshape(shape).clone()
        return self

    def __exit__(self, *exc):
        self.module.randn_tensor = self.original


def final_latents_callback(store):
    def callback(pipe, step, timestep, kwargs):
        store["latents"] = kwargs["latents"].detach().clone()
        return kwargs
    return callback


def run_case(pipe_class, components, case, noise):
    pipe = pipe_class(**components)
    pipe.set_progress_bar_config(disable=True)
    store = {}
    common = dict(prompt=case["prompt"], negative_prompt=case["negative"], num_inference_steps=case["steps"],
                  guidance_scale=case["guidance"], output_type="np",
                  callback_on_step_end=final_latents_callback(store))
    if case["operation"] == "generate":
        out = pipe(height=HEIGHT, width=WIDTH, latents=noise.clone(), **common)
    elif case["operation"] == "vary":
        module = sys.modules[pipe_class.__module__]
        with NoiseRecorder(module, noise):
            out = pipe(image=Image.fromarray(source_image()), strength=case["strength"], **common)
    else:
        out = pipe(image=Image.fromarray(source_image()), mask_image=Image.fromarray(mask_image()),
                   height=HEIGHT, width=WIDTH, strength=case["strength"], latents=noise.clone(), **common)
    pixels = (out.images[0] * 255).round().astype(np.uint8)
    return store["latents"][0], pixels


def case_list():
    base = dict(prompt="a lighthouse on a cliff at dusk", steps=6, guidance=7.5)
    return [
        dict(base, id="generate-negative", operation="generate", negative="blurry, low quality"),
        dict(base, id="generate-empty-negative", operation="generate", negative=""),
        dict(base, id="vary-0.6", operation="vary", negative="", strength=0.6),
        dict(base, id="inpaint-blend", operation="inpaint", negative="", strength=1.0),
    ]


PIPELINES = {"generate": StableDiffusionPipeline, "vary": StableDiffusionImg2ImgPipeline,
             "inpaint": StableDiffusionInpaintPipeline}


def make_references(name, pipe):
    components = dict(pipe.components)
    shape = (1, 4, HEIGHT // 8, WIDTH // 8)
    cases = []
    for index, case in enumerate(case_list()):
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(1000 + index))
        latents, pixels = run_case(PIPELINES[case["operation"]], components, case, noise)
        image_file = f"{name}-{case['id']}.png"
        Image.fromarray(pixels).save(os.path.join(REFERENCES, image_file))
        cases.append(dict(case, width=WIDTH, height=HEIGHT, scheduler=type(pipe.scheduler).__name__,
                          noise=noise.flatten().tolist(), latents=latents.flatten().tolist(),
                          pixels=image_file))
    return cases


def versions():
    import onnxruntime
    import optimum.version
    import transformers
    return {"diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "optimum": optimum.version.__version__, "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__}


def write_inputs():
    Image.fromarray(source_image()).save(os.path.join(REFERENCES, "source.png"))
    Image.fromarray(mask_image()).save(os.path.join(REFERENCES, "mask.png"))


def main():
    torch.set_num_threads(2)
    os.makedirs(MODELS, exist_ok=True)
    os.makedirs(REFERENCES, exist_ok=True)
    write_inputs()
    folders = {"sd15": sd_pipeline(15, sd15_scheduler())}
    for name, pipe in folders.items():
        export(pipe, name)
        reference = {"source": "test/conformance/make_conformance.py", "versions": versions(), "folder": name,
                     "cases": make_references(name, pipe)}
        with open(os.path.join(REFERENCES, f"{name}.json"), "w") as f:
            json.dump(reference, f)
            f.write("\n")
        print(f"{name}: {len(reference['cases'])} cases")


if __name__ == "__main__":
    main()
