"""The peers benchmark's folder: a full-size SD 1.5 pipeline (UNet ~860M parameters, CLIP ViT-L/14 text
model, the SD VAE) with random weights (fixed seed), saved by diffusers and exported by optimum's own
exporter, as a host would. Random weights time the same as trained ones: the work is the architecture.

Run with `npm run conformance:make -- peers` (or the venv's python directly). Writes
test/conformance/peers/sd15-full/ (the optimum export, ~4 GB, git-ignored) and
test/conformance/peers/sd15-full-diffusers/ (the saved diffusers pipeline, which the benchmark's
diffusers run loads).
"""

import json
import os
import shutil
import sys

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from optimum.exporters.onnx import main_export
from transformers import CLIPTextConfig, CLIPTextModel

from make_conformance import SD15_SCHEDULER_JSON, clip_tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
SAVED = os.path.join(PEERS, "sd15-full-diffusers")
EXPORTED = os.path.join(PEERS, "sd15-full")


def full_size_pipeline(seed=1):
    """runwayml/stable-diffusion-v1-5's component configs, key for key where it matters for cost."""
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu",
        bos_token_id=49406, eos_token_id=49407, pad_token_id=1)).eval()
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3).eval()
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
        block_out_channels=(128, 256, 512, 512), sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(), unet=unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_JSON), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)


def main():
    torch.set_num_threads(2)
    os.makedirs(PEERS, exist_ok=True)
    pipe = full_size_pipeline()
    print(f"unet parameters: {sum(p.numel() for p in pipe.unet.parameters()) / 1e6:.0f}M", flush=True)
    shutil.rmtree(SAVED, ignore_errors=True)
    pipe.save_pretrained(SAVED, safe_serialization=True)
    with open(os.path.join(SAVED, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SD15_SCHEDULER_JSON, f, indent=2)
    del pipe
    shutil.rmtree(EXPORTED, ignore_errors=True)
    # optimum-cli export onnx --model SAVED --task text-to-image EXPORTED, in-process. Validation is
    # skipped only when asked (`--no-validation`): on a shared 2-core machine it runs every component
    # twice more at full size; the conformance folders already validate the same exporter.
    main_export(SAVED, EXPORTED, task="text-to-image", do_validation="--no-validation" not in sys.argv)
    print(f"exported to {EXPORTED}", flush=True)


if __name__ == "__main__":
    main()
