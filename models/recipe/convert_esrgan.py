#!/usr/bin/env python3
"""
Converts UpscalerJS's ESRGAN TF.js layers models (npm: @upscalerjs/esrgan-slim, -medium; MIT, trained on
DIV2K) to ONNX for flowbot's upscaler: NCHW RGB in, NCHW RGB out, on the 0-255 scale the models use.

    /usr/bin/python3 recipe/convert_esrgan.py slim 4     # -> models/esrgan-slim/{model.onnx,upscaler.json}

The Keras graph (Conv2D, ReLU activations, Concatenate, Add, UpSampling2D) is rebuilt layer by layer in
PyTorch from model.json and its weight shards, then exported. A separate NumPy implementation of the
same graph, working in Keras's own NHWC layout, checks the PyTorch graph numerically before export;
test/upscaler.test.ts then checks ONNX Runtime against the reference outputs saved here.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(package, scale):
    folder = os.path.join(ROOT, "node_modules", "@upscalerjs", f"esrgan-{package}", "models", f"x{scale}")
    model = json.load(open(os.path.join(folder, "model.json")))
    weights = {}
    for group in model["weightsManifest"]:
        blob = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            if w["dtype"] != "float32":
                raise SystemExit(f"unsupported weight dtype {w['dtype']} for {w['name']}")
            count = int(np.prod(w["shape"]))
            weights[w["name"]] = np.frombuffer(blob, dtype=np.float32, count=count, offset=offset).reshape(w["shape"])
            offset += 4 * count
    layers = model["modelTopology"]["model_config"]["config"]["layers"]
    return folder, layers, weights


def inputs_of(layer):
    return [node[0] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []


SUPPORTED = {"InputLayer", "Conv2D", "Activation", "Concatenate", "Add", "UpSampling2D"}


class KerasGraph(torch.nn.Module):
    """The Keras functional graph, in NCHW."""

    def __init__(self, layers, weights):
        super().__init__()
        self.layers = layers
        self.convs = torch.nn.ModuleDict()
        for layer in layers:
            kind, cfg = layer["class_name"], layer["config"]
            if kind not in SUPPORTED:
                raise SystemExit(f"unsupported layer {kind} ({cfg['name']})")
            if kind == "Conv2D":
                kernel = weights[f"{cfg['name']}/kernel"]  # kh, kw, in, out
                if cfg["padding"] == "same" and (kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0):
                    raise SystemExit(f"even 'same' kernels are not supported ({cfg['name']})")
                padding = (kernel.shape[0] // 2, kernel.shape[1] // 2) if cfg["padding"] == "same" else 0
                conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], tuple(kernel.shape[:2]), padding=padding)
                conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                conv.bias.data = torch.from_numpy(weights[f"{cfg['name']}/bias"].copy())
                if cfg.get("activation", "linear") not in ("linear", "relu") or tuple(cfg.get("strides", [1, 1])) != (1, 1):
                    raise SystemExit(f"unsupported conv options in {cfg['name']}")
                self.convs[cfg["name"].replace(".", "_")] = conv

    def forward(self, x):
        values = {}
        for layer in self.layers:
            kind, cfg = layer["class_name"], layer["config"]
            args = [values[name] for name in inputs_of(layer)]
            if kind == "InputLayer":
                out = x
            elif kind == "Conv2D":
                out = self.convs[cfg["name"].replace(".", "_")](args[0])
                if cfg.get("activation") == "relu":
                    out = F.relu(out)
            elif kind == "Activation":
                if cfg["activation"] != "relu":
                    raise SystemExit(f"unsupported activation {cfg['activation']}")
                out = F.relu(args[0])
            elif kind == "Concatenate":
                out = torch.cat(args, dim=1)
            elif kind == "Add":
                out = args[0]
                for other in args[1:]:
                    out = out + other
            else:  # UpSampling2D
                if cfg.get("interpolation", "nearest") != "nearest":
                    raise SystemExit("only nearest up-sampling is supported")
                out = F.interpolate(args[0], scale_factor=tuple(float(s) for s in cfg["size"]), mode="nearest")
            values[cfg["name"]] = out
        return out


def numpy_reference(layers, weights, x):
    """The same graph evaluated independently with NumPy in NHWC, as Keras computes it."""

    def conv(h, kernel, bias):
        kh, kw, cin, cout = kernel.shape
        ph, pw = kh // 2, kw // 2
        padded = np.pad(h, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
        n, height, width, _ = h.shape
        out = np.zeros((n, height, width, cout), dtype=np.float64)
        for i in range(kh):
            for j in range(kw):
                out += padded[:, i : i + height, j : j + width, :] @ kernel[i, j].astype(np.float64)
        return out + bias

    values = {}
    for layer in layers:
        kind, cfg = layer["class_name"], layer["config"]
        args = [values[name] for name in inputs_of(layer)]
        if kind == "InputLayer":
            out = x.astype(np.float64)
        elif kind == "Conv2D":
            out = conv(args[0], weights[f"{cfg['name']}/kernel"], weights[f"{cfg['name']}/bias"])
            if cfg.get("activation") == "relu":
                out = np.maximum(out, 0)
        elif kind == "Activation":
            out = np.maximum(args[0], 0)
        elif kind == "Concatenate":
            out = np.concatenate(args, axis=-1)
        elif kind == "Add":
            out = sum(args)
        else:
            sy, sx = cfg["size"]
            out = args[0].repeat(sy, axis=1).repeat(sx, axis=2)
        values[cfg["name"]] = out
    return out


def main():
    package = sys.argv[1] if len(sys.argv) > 1 else "slim"
    scale = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    folder, layers, weights = load(package, scale)
    model = KerasGraph(layers, weights).eval()
    rng = np.random.default_rng(0)
    sample = (rng.random((1, 12, 10, 3)) * 255).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(sample.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    reference = numpy_reference(layers, weights, sample)
    error = float(np.max(np.abs(ours - reference)) / max(1.0, float(np.max(np.abs(reference)))))
    print(f"esrgan-{package} x{scale}: PyTorch vs NumPy reference, max relative error {error:.2e}")
    if error > 1e-4:
        raise SystemExit("conversion does not match the reference")
    out_dir = os.path.join(ROOT, f"esrgan-{package}")
    os.makedirs(out_dir, exist_ok=True)
    onnx_file = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 16, 16), onnx_file, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "h", 3: "w"}},
                      opset_version=17, do_constant_folding=True)
    with open(os.path.join(out_dir, "upscaler.json"), "w") as f:
        json.dump({"format": "flowbot-upscaler", "scale": scale, "input_range": [0, 255], "tile": 128,
                   "license": "MIT", "source": f"@upscalerjs/esrgan-{package} (models/x{scale}), converted by models/recipe/convert_esrgan.py"}, f, indent=2)
        f.write("\n")
    shutil.copyfile(os.path.join(ROOT, "node_modules", "@upscalerjs", f"esrgan-{package}", "LICENSE"), os.path.join(out_dir, "LICENSE"))
    fixture = os.path.join(ROOT, "..", "test", "fixtures", f"esrgan-{package}-reference.json")
    with open(fixture, "w") as f:
        json.dump({"input_nchw": sample.transpose(0, 3, 1, 2).flatten().tolist(), "dims": [1, 3, 12, 10],
                   "output_nchw": reference.transpose(0, 3, 1, 2).flatten().tolist(), "output_dims": [1, 3, 12 * scale, 10 * scale]}, f)
    print(f"wrote {onnx_file} ({os.path.getsize(onnx_file) / 1e6:.2f} MB) and {os.path.relpath(fixture, ROOT)}")


if __name__ == "__main__":
    main()
