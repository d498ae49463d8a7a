"""Converts nsfwjs 4.4.0's MobileNetV2 (a Keras layers model for TensorFlow.js with uint8-quantized
weights) to ONNX, layer by layer with onnx.helper, so the result is exactly the published model.

Usage: python convert.py <dir with topology.json + weights.bin from extract.cjs> <out model.onnx>

- Weights are dequantized as TensorFlow.js does (`q * scale + min`, in float64, stored as float32).
- The ONNX input is NHWC like nsfwjs' (`input`, [N, 224, 224, 3], RGB scaled to 0–1); one Transpose
  turns it into ONNX's NCHW. The output `probabilities` is [N, 5]: Drawing, Hentai, Neutral, Porn, Sexy.
- Keras `same` padding is TensorFlow's (extra row/column at the bottom/right); ZeroPadding2D is folded
  into the following convolution's pads.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def dequantized_weights(folder: Path) -> dict[str, np.ndarray]:
    """The named weights of the manifest, dequantized from the concatenated shard bytes."""
    model = json.loads((folder / "topology.json").read_text())
    data = (folder / "weights.bin").read_bytes()
    weights: dict[str, np.ndarray] = {}
    offset = 0
    for group in model["weightsManifest"]:
        for spec in group["weights"]:
            count = math.prod(spec["shape"])
            quant = spec["quantization"]
            if spec["dtype"] != "float32" or quant["dtype"] != "uint8":
                raise ValueError(f"unexpected weight encoding for {spec['name']}: {spec}")
            q = np.frombuffer(data, dtype=np.uint8, count=count, offset=offset)
            offset += count
            values = q.astype(np.float64) * quant["scale"] + quant["min"]
            weights[spec["name"]] = values.astype(np.float32).reshape(spec["shape"])
    if offset != len(data):
        raise ValueError(f"weights.bin has {len(data)} bytes, the manifest describes {offset}")
    return weights


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (before, after), the extra one after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Builder:
    """Emits ONNX nodes for Keras layers, tracking each tensor's NCHW shape (batch left out)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        # ZeroPadding2D layers waiting to be folded into the next convolution: (pads, padded source).
        self.pending_pads: dict[str, tuple[tuple[int, int, int, int], str]] = {}

    def weight(self, name: str) -> np.ndarray:
        self.used.add(name)
        return self.weights[name]

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv(self, layer: dict, source: str, depthwise: bool) -> str:
        cfg, name = layer["config"], layer["name"]
        if cfg["dilation_rate"] != [1, 1] or cfg["activation"] != "linear" or cfg["use_bias"]:
            raise ValueError(f"unsupported convolution config in {name}")
        channels, height, width = self.shapes[source]
        (kh, kw), (sh, sw) = cfg["kernel_size"], cfg["strides"]
        if cfg["padding"] == "same":
            top, bottom = same_pads(height, kh, sh)
            left, right = same_pads(width, kw, sw)
        elif cfg["padding"] == "valid":
            top = bottom = left = right = 0
        else:
            raise ValueError(f"unsupported padding {cfg['padding']} in {name}")
        # A preceding ZeroPadding2D is folded in here.
        if source in self.pending_pads:
            extra, source = self.pending_pads[source]
            top, left, bottom, right = top + extra[0], left + extra[1], bottom + extra[2], right + extra[3]
        if depthwise:
            kernel = self.weight(f"{name}/depthwise_kernel")  # [kh, kw, in, multiplier]
            multiplier = kernel.shape[3]
            onnx_kernel = kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
            group, out_channels = channels, channels * multiplier
        else:
            kernel = self.weight(f"{name}/kernel")  # [kh, kw, in, out]
            onnx_kernel = kernel.transpose(3, 2, 0, 1)
            group, out_channels = 1, kernel.shape[3]
        w = self.const(f"{name}.weight", np.ascontiguousarray(onnx_kernel))
        self.node(
            "Conv",
            [source, w],
            name,
            kernel_shape=[kh, kw],
            strides=[sh, sw],
            pads=[top, left, bottom, right],
            group=group,
        )
        out_h = (height + top + bottom - kh) // sh + 1
        out_w = (width + left + right - kw) // sw + 1
        self.shapes[name] = (out_channels, out_h, out_w)
        return name

    def layer(self, layer: dict, inputs: list[str]) -> None:
        kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
        source = inputs[0] if inputs else None
        if kind == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            channels, height, width = self.shapes[source]
            self.pending_pads[name] = ((top, left, bottom, right), source)
            self.shapes[name] = (channels, height + top + bottom, width + left + right)
        elif kind in ("Conv2D", "DepthwiseConv2D"):
            self.conv(layer, source, depthwise=kind == "DepthwiseConv2D")
        elif kind == "BatchNormalization":
            if cfg["axis"] not in (-1, 3) or not cfg["center"] or not cfg["scale"]:
                raise ValueError(f"unsupported batch norm config in {name}")
            params = [
                self.const(f"{name}.{part}", self.weight(f"{name}/{part}"))
                for part in ("gamma", "beta", "moving_mean", "moving_variance")
            ]
            self.node("BatchNormalization", [source, *params], name, epsilon=float(cfg["epsilon"]))
            self.shapes[name] = self.shapes[source]
        elif kind == "ReLU":
            if cfg.get("negative_slope", 0) != 0 or cfg.get("threshold", 0) != 0:
                raise ValueError(f"unsupported ReLU config in {name}")
            high = cfg.get("max_value")
            if high is None:
                self.node("Relu", [source], name)
            else:
                lo = self.const(f"{name}.min", np.array(0, np.float32))
                hi = self.const(f"{name}.max", np.array(high, np.float32))
                self.node("Clip", [source, lo, hi], name)
            self.shapes[name] = self.shapes[source]
        elif kind == "Add":
            self.node("Add", inputs, name)
            self.shapes[name] = self.shapes[inputs[0]]
        elif kind == "AveragePooling2D":
            if cfg["padding"] != "valid":
                raise ValueError(f"unsupported pooling padding in {name}")
            (kh, kw), (sh, sw) = cfg["pool_size"], cfg["strides"]
            self.node("AveragePool", [source], name, kernel_shape=[kh, kw], strides=[sh, sw])
            channels, height, width = self.shapes[source]
            self.shapes[name] = (channels, (height - kh) // sh + 1, (width - kw) // sw + 1)
        elif kind == "Flatten":
            channels, height, width = self.shapes[source]
            # Keras flattens channels-last; with a 1×1 map that is the same order as NCHW's.
            if (height, width) != (1, 1):
                raise ValueError(f"{name}: flattening a {height}×{width} map needs a transpose")
            self.node("Flatten", [source], name, axis=1)
            self.shapes[name] = (channels,)
        elif kind == "Dense":
            kernel = self.const(f"{name}.kernel", self.weight(f"{name}/kernel"))
            bias = self.const(f"{name}.bias", self.weight(f"{name}/bias"))
            activation = cfg["activation"]
            linear = name if activation == "linear" else f"{name}.linear"
            self.node("Gemm", [source, kernel, bias], linear)
            if activation == "relu":
                self.node("Relu", [linear], name)
            elif activation == "softmax":
                self.node("Softmax", [linear], name, axis=-1)
            elif activation != "linear":
                raise ValueError(f"unsupported activation {activation} in {name}")
            self.shapes[name] = (cfg["units"],)
        elif kind == "Dropout":
            self.node("Identity", [source], name)
            self.shapes[name] = self.shapes[source]
        else:
            raise ValueError(f"unsupported layer {kind} ({name})")


def convert(folder: Path) -> onnx.ModelProto:
    topology = json.loads((folder / "topology.json").read_text())["modelTopology"]
    config = topology["model_config"]["config"]
    builder = Builder(dequantized_weights(folder))
    [[input_name, _, _]] = config["input_layers"]
    [[output_name, _, _]] = config["output_layers"]
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            _, height, width, channels = layer["config"]["batch_input_shape"]
            builder.node("Transpose", ["input"], layer["name"], perm=[0, 3, 1, 2])
            builder.shapes[layer["name"]] = (channels, height, width)
            continue
        [inbound] = layer["inbound_nodes"]
        builder.layer(layer, [entry[0] for entry in inbound])
    unused = set(builder.weights) - builder.used
    if unused:
        raise ValueError(f"weights not used by any layer: {sorted(unused)}")
    builder.node("Identity", [output_name], "probabilities")
    graph = helper.make_graph(
        builder.nodes,
        "nsfwjs_mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", height, width, channels])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 5])],
        builder.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="flowbot models/recipe/nsfw/convert.py",
        doc_string="nsfwjs 4.4.0 MobileNetV2 (MIT, Infinite Red), converted layer by layer from its TF.js model",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = convert(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out)
    print(f"wrote {out}: {out.stat().st_size} bytes, {len(model.graph.node)} nodes")


if __name__ == "__main__":
    main()
