"""LoRA fixtures and diffusers' references for them.

Run with `npm run conformance:make -- loras` (or the venv's python directly). For the tiny SD 1.5, SDXL,
SD3 and FLUX.1 schnell folders of make_conformance.py it:
  1. rebuilds the diffusers pipeline from the same configs and seeds, and checks that its weights are
     the ones in the committed ONNX export (the named initializers must be equal);
  2. makes random rank-4 LoRAs with PEFT (`LoraConfig`, `add_adapter`, every lora_A and lora_B drawn
     from a seeded normal: PEFT's own init leaves lora_B at zero, which would change nothing), with
     lora_alpha 2 (scale alpha / rank = 0.5, so a reader that ignores alpha fails);
  3. saves them as a host finds them: diffusers format (`save_lora_weights`, the PEFT config in the
     safetensors metadata) and, for SD 1.5 and SDXL, kohya's format (`lora_unet_…`, `lora_te…`, `.alpha`)
     written by `to_kohya` below; SD 1.5's kohya file is a LoCon (its ResNet convolutions too);
  4. runs diffusers' pipeline with `load_lora_weights` + `set_adapters` + `fuse_lora` for each case (one
     LoRA at 1.0 and 0.5, kohya and diffusers files, two LoRAs at once with one negative weight), with
     the conformance noise of the `generate-negative` case.

Writes test/conformance/models/<folder>/loras/*.safetensors and
test/conformance/references/loras-<folder>.json (+ PNGs).
"""

import copy
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from PIL import Image
from safetensors.torch import save_file
from transformers import T5TokenizerFast

import make_conformance as mc

RANK, ALPHA = 4, 2

CLIP_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.2"]
# LoCon: the ResNets' 3×3 convolutions and the 1×1 shortcut.
SD15_CONV_TARGETS = ["conv1", "conv2", "conv_shortcut"]
MMDIT_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
                 "ff.net.2"]

# folder: family, pipeline builder, generate case, denoiser attribute, {component: targets} per LoRA.
FOLDERS = {
    "sd15": ("sd", lambda: mc.sd_pipeline(15, mc.sd15_scheduler()), mc.operation_cases()[0], "unet",
             {"unet": UNET_TARGETS + SD15_CONV_TARGETS, "text_encoder": CLIP_TARGETS}),
    "sdxl": ("sdxl", lambda: mc.sdxl_pipeline(30), mc.operation_cases()[0], "unet",
             {"unet": UNET_TARGETS, "text_encoder": CLIP_TARGETS, "text_encoder_2": CLIP_TARGETS}),
    "sd3": ("sd3", lambda: mc.sd3_pipeline(40), mc.flow_cases(4.5, 6)[0], "transformer",
            {"transformer": MMDIT_TARGETS}),
    "flux-schnell": ("flux", lambda: mc.flux_pipeline(45, dev=False),
                     mc.flow_cases(0.0, 4, dict(max_sequence_length=256))[0], "transformer",
                     {"transformer": MMDIT_TARGETS}),
}
KOHYA_PREFIX = {
    "sd": {"unet": "lora_unet", "text_encoder": "lora_te"},
    "sdxl": {"unet": "lora_unet", "text_encoder": "lora_te1", "text_encoder_2": "lora_te2"},
}


def check_rebuilt(pipe, folder, denoiser):
    """The rebuilt pipeline's weights are the committed export's: every initializer named after a
    parameter (Conv, Gemm and norms keep their names) must be equal."""
    path = os.path.join(mc.MODELS, folder, denoiser, "model.onnx")
    params = dict(getattr(pipe, denoiser).state_dict())
    checked = 0
    for init in onnx.load(path).graph.initializer:
        if init.name in params:
            expected = params[init.name].detach().numpy()
            if not np.array_equal(numpy_helper.to_array(init), expected):
                raise SystemExit(f"{folder}: {init.name} differs from the committed export; rerun make_conformance")
            checked += 1
    if checked < 10:
        raise SystemExit(f"{folder}: only {checked} named initializers to compare")
    print(f"{folder}: rebuilt pipeline matches the export ({checked} named weights)", flush=True)


def committed_tokenizers(pipe, folder):
    """The T5 tokenizer is trained at build time (scores may differ in the last digit); use the
    committed folder's so that diffusers and flowbot read the prompt the same way."""
    for name in ("tokenizer_2", "tokenizer_3"):
        directory = os.path.join(mc.MODELS, folder, name)
        if isinstance(getattr(pipe, name, None), T5TokenizerFast) and os.path.isdir(directory):
            setattr(pipe, name, T5TokenizerFast.from_pretrained(directory))


def random_lora(pipe, targets, seed):
    """{component: PEFT state dict (module.lora_A.weight / lora_B.weight)}, every value random."""
    torch.manual_seed(seed)
    layers = {}
    for component, modules in targets.items():
        model = copy.deepcopy(getattr(pipe, component))
        model.add_adapter(LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=modules, init_lora_weights=True))
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.normal_(0.0, 0.3)
        layers[component] = {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    return layers


def lora_metadata(targets):
    return LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=targets).to_dict()


def save_diffusers(pipe, layers, targets, directory, name):
    arguments = {f"{component}_lora_layers": state for component, state in layers.items()}
    for component in layers:
        arguments[f"{component}_lora_adapter_metadata"] = lora_metadata(targets[component])
    type(pipe).save_lora_weights(directory, weight_name=name, **arguments)


def to_kohya(layers, family):
    """kohya's (sd-scripts, A1111) layout: `lora_unet_<module with _>.lora_down.weight`, `.lora_up.weight`
    and `.alpha`."""
    out = {}
    for component, state in layers.items():
        prefix = KOHYA_PREFIX[family][component]
        for key, value in state.items():
            module, kind = key.rsplit(".lora_", 1)
            base = f"{prefix}_{module.replace('.', '_')}"
            out[f"{base}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = value
            out[f"{base}.alpha"] = torch.tensor(float(ALPHA))
    return out


def run_with_loras(base, family, case, noise, directory, loras):
    """diffusers' pipeline with the LoRAs loaded, weighted and fused."""
    pipe = mc.PIPELINES[family]["generate"](**copy.deepcopy(dict(base.components)))
    names = []
    for index, (file, weight) in enumerate(loras):
        name = f"lora{index}"
        pipe.load_lora_weights(directory, weight_name=file, adapter_name=name)
        names.append(name)
    pipe.set_adapters(names, [weight for _, weight in loras])
    pipe.fuse_lora(adapter_names=names, lora_scale=1.0)
    return mc.run_case(pipe, case, noise)


def main():
    torch.set_num_threads(2)
    only = set(sys.argv[1:])
    for folder, (family, build, case, denoiser, targets) in FOLDERS.items():
        if only and folder not in only:
            continue
        base = build()
        check_rebuilt(base, folder, denoiser)
        committed_tokenizers(base, folder)
        directory = os.path.join(mc.MODELS, folder, "loras")
        os.makedirs(directory, exist_ok=True)
        first = random_lora(base, targets, 7)
        second = random_lora(base, targets, 8)
        save_diffusers(base, first, targets, directory, "tiny-style.safetensors")
        save_diffusers(base, second, targets, directory, "tiny-detail.safetensors")
        files = {"style": "tiny-style.safetensors", "detail": "tiny-detail.safetensors"}
        if family in KOHYA_PREFIX:
            save_file(to_kohya(first, family), os.path.join(directory, "tiny-style-kohya.safetensors"),
                      metadata={"ss_network_module": "networks.lora", "ss_network_dim": str(RANK),
                                "ss_network_alpha": str(ALPHA)})
            files["kohya"] = "tiny-style-kohya.safetensors"
        shape = (1, base.vae.config.latent_channels, mc.HEIGHT // 8, mc.WIDTH // 8)
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(1000))
        runs = [("style-1.0", [("style", 1.0)]), ("style-0.5", [("style", 0.5)]),
                ("style+detail", [("style", 0.8), ("detail", -0.5)])]
        if "kohya" in files:
            runs += [("kohya-1.0", [("kohya", 1.0)]), ("kohya-0.5", [("kohya", 0.5)])]
        cases = []
        for run_id, loras in runs:
            used = [(files[key], weight) for key, weight in loras]
            latents, pixels, scheduler, _ = run_with_loras(base, family, case, noise, directory, used)
            image_file = f"loras-{folder}-{run_id}.png"
            Image.fromarray(pixels).save(os.path.join(mc.REFERENCES, image_file))
            cases.append(dict(case, id=run_id, loras=[{"name": f[: -len(".safetensors")], "weight": w}
                                                       for f, w in used],
                              width=mc.WIDTH, height=mc.HEIGHT, scheduler=scheduler,
                              noise=noise.flatten().tolist(), latents=latents.flatten().tolist(),
                              pixels=image_file))
            print(f"{folder}: {run_id}", flush=True)
        reference = {"source": "test/conformance/make_loras.py", "versions": mc.versions(), "folder": folder,
                     "rank": RANK, "alpha": ALPHA, "cases": cases}
        with open(os.path.join(mc.REFERENCES, f"loras-{folder}.json"), "w") as f:
            json.dump(reference, f)
            f.write("\n")


if __name__ == "__main__":
    main()
