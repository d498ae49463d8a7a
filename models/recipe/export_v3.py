"""
Writes flowbot-emoji v3 to ONNX: the 8-step denoiser, the 2-step draft denoiser and the VAE, every
large weight stored as fp16 behind a Cast (ONNX Runtime folds it when a session loads, so arithmetic
stays fp32; the PyTorch modules are rounded to the same fp16 values first, so the reference outputs are
the graphs' own). The text side is models/minilm-l6, shared with reply reading, not copied.

    /path/to/venv/python recipe/v3.py --phase export          # from the checkpoints of recipe/v3.py
"""
import json
import os
import shutil

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from from_onnx import LEGACY_EXPORTER
from nets import ConditionedUNet, Decoder, Encoder, round_to_half
from sentence import SentenceStates
from shipped import SPATIAL, DecodeWrapper

TOKENS = 32
LATENT = 4
ENCODER = "../minilm-l6"


def half_weights(file, min_elements=1024):
    """Stores every float initializer of ≥ `min_elements` values as fp16 behind a Cast to fp32."""
    model = onnx.load(file)
    graph = model.graph
    halves, casts = [], []
    for weight in list(graph.initializer):
        if weight.data_type != TensorProto.FLOAT or int(np.prod(weight.dims)) < min_elements:
            continue
        values = numpy_helper.to_array(weight)
        assert np.array_equal(values.astype(np.float16).astype(np.float32), values), f"{weight.name} is not fp16-exact"
        halves.append(numpy_helper.from_array(values.astype(np.float16), f"{weight.name}_fp16"))
        casts.append(helper.make_node("Cast", [halves[-1].name], [weight.name], to=TensorProto.FLOAT))
        graph.initializer.remove(weight)
    graph.initializer.extend(halves)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, file)


def export_onnx(module, inputs, file, in_names, out_names, dynamic):
    torch.onnx.export(module, inputs, file, input_names=in_names, output_names=out_names, dynamic_axes=dynamic,
                      opset_version=17, do_constant_folding=True, **LEGACY_EXPORTER)
    half_weights(file)


def load_unet(file):
    unet = ConditionedUNet(LATENT, widths=(128, 256), tokens=TOKENS)
    unet.load_state_dict(torch.load(file)["ema"])
    return unet


def export(ckpt, v2_dir, out, teacher=None, student=None, fixture=None, training=None):
    """Writes the model folder `out` (and the parity fixture) from the checkpoints in `ckpt`."""
    root = os.path.dirname(out)
    teacher = round_to_half(teacher or load_unet(os.path.join(ckpt, "teacher.pt")))
    student = round_to_half(student or load_unet(os.path.join(ckpt, "student.pt")))
    size = json.load(open(os.path.join(v2_dir, "model.json")))["native_size"]["width"]
    v2 = torch.load(os.path.join(v2_dir, "v2-weights.pt"))
    enc, dec = Encoder(LATENT), Decoder(LATENT)
    enc.load_state_dict(v2["encoder"]), dec.load_state_dict(v2["decoder"])
    enc, dec = round_to_half(enc), round_to_half(dec)
    sentence = SentenceStates(root, TOKENS)
    prompts = ["a grinning face", "", "our planet seen from space, in 3d style"]
    states, pooled = sentence.encode(prompts)
    states = states.float()
    g = torch.Generator().manual_seed(7)
    sample = torch.randn(3, LATENT, size // 4, size // 4, generator=g)
    timestep = torch.tensor([800.0, 250.0, 1000.0])
    image = torch.rand(1, 3, size, size, generator=g) * 2 - 1
    with torch.no_grad():
        outputs = {
            "denoiser": [teacher(sample, timestep, states, pooled)],
            "draft_denoiser": [student(sample, timestep, states, pooled)],
            "vae_encoder": [enc(image)],
            "vae_decoder": [dec(sample[:1])],
        }
    text = {"encoder_hidden_states": {0: "batch", 1: "tokens"}, "pooled_projections": {0: "batch"}}
    unet_io = (["sample", "timestep", "encoder_hidden_states", "pooled_projections"], ["out_sample"],
               {"sample": SPATIAL, "timestep": {0: "batch"}, **text, "out_sample": SPATIAL})
    os.makedirs(out, exist_ok=True)
    for name, module in (("denoiser", teacher), ("draft_denoiser", student)):
        export_onnx(module, (sample, timestep, states, pooled), os.path.join(out, f"{name}.onnx"), *unet_io)
    export_onnx(enc, (image,), os.path.join(out, "vae_encoder.onnx"), ["sample"], ["latent_parameters"],
                {"sample": SPATIAL, "latent_parameters": SPATIAL})
    export_onnx(DecodeWrapper(dec), (sample[:1],), os.path.join(out, "vae_decoder.onnx"), ["latent_sample"], ["sample"],
                {"latent_sample": SPATIAL, "sample": SPATIAL})
    for stale in ("text_encoder.onnx", "tokenizer"):  # v2's CLIP-tokenised text encoder
        path = os.path.join(out, stale)
        shutil.rmtree(path) if os.path.isdir(path) else os.path.exists(path) and os.remove(path)
    reference = {
        "prompts": prompts,
        "input_ids": [sentence.ids(p) for p in prompts],
        "inputs": {"encoder_hidden_states": states.flatten().tolist(), "pooled_projections": pooled.flatten().tolist(),
                   "sample": sample.flatten().tolist(), "timestep": timestep.tolist(), "image": image.flatten().tolist()},
        "outputs": {k: [o.flatten().tolist() for o in v] for k, v in outputs.items()},
    }
    fixture = fixture or os.path.join(root, "..", "test", "fixtures", "flowbot-emoji-reference.json")
    with open(fixture, "w") as f:
        json.dump(reference, f)
    manifest = json.load(open(os.path.join(v2_dir, "model.json")))
    manifest.update({
        "description": "flowbot's own small text-to-image model: a rectified-flow UNet in a 16x16x4 VAE latent space, "
                       "conditioned on the all-MiniLM-L6-v2 sentence encoder, with a two-step draft student distilled "
                       "by reflow; trained on permissively licensed emoji art.",
        "components": {"text_encoder": f"{ENCODER}/encoder.onnx", "denoiser": "denoiser.onnx",
                       "draft_denoiser": "draft_denoiser.onnx", "vae_encoder": "vae_encoder.onnx",
                       "vae_decoder": "vae_decoder.onnx"},
        "tokenizer": {"kind": "wordpiece", "file": f"{ENCODER}/tokenizer.json", "max_length": TOKENS, "pad_token_id": 0},
    })
    manifest["defaults"].update({"steps": 8, "guidance": 4.0, "draft_steps": 2, "draft_guidance": 1.0})
    if training:
        manifest["training"] = training
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(out, n)) for n in sorted(os.listdir(out)) if n.endswith(".onnx")}
    print(f"export: {out}: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sizes.items()))
