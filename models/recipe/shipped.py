"""
The shipped model's weights as PyTorch modules, for fine-tuning it (`train.py --from-shipped`) when the
checkpoints of the run that made it are gone. Each component is recovered from its ONNX file by
from_onnx.py, with the same input names and shapes as train.py's export.
"""
import os

import onnx
import torch
from onnx import numpy_helper

from from_onnx import recover
from nets import Decoder, Encoder, FlowUNet, TextEncoder

SPATIAL = {0: "batch", 2: "height", 3: "width"}


class DecodeWrapper(torch.nn.Module):
    """The decoder under the export's input name (`latent_sample`)."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, latent_sample):
        return self.dec(latent_sample)


def shipped_autoencoder(folder, size, latent):
    """The VAE encoder and decoder of the model folder `folder`."""
    enc = recover(Encoder(latent), os.path.join(folder, "vae_encoder.onnx"), (torch.rand(1, 3, size, size),), ["sample"],
                  ["latent_parameters"], {"sample": SPATIAL, "latent_parameters": SPATIAL})
    dec = recover(DecodeWrapper(Decoder(latent)), os.path.join(folder, "vae_decoder.onnx"),
                  (torch.rand(1, latent, size // 4, size // 4),), ["latent_sample"], ["sample"],
                  {"latent_sample": SPATIAL, "sample": SPATIAL}).dec
    return enc, dec


def shipped_flow(folder, bpe, tokens, latent, widths):
    """The text encoder (with the id map it shipped with) and the denoiser of the model folder `folder`."""
    file = os.path.join(folder, "text_encoder.onnx")
    initializers = onnx.load(file).graph.initializer
    id_map = torch.from_numpy(next(numpy_helper.to_array(i) for i in initializers if i.name == "id_map"))
    ids = torch.tensor([bpe.encode_padded(p, tokens) for p in ["a grinning face", ""]], dtype=torch.long)
    text = recover(TextEncoder(id_map, length=tokens), file, (ids,), ["input_ids"], ["last_hidden_state", "pooler_output"],
                   {"input_ids": {0: "batch"}})
    with torch.no_grad():
        hidden, _ = text(ids)
    unet = recover(FlowUNet(latent, widths=widths, tokens=tokens), os.path.join(folder, "denoiser.onnx"),
                   (torch.randn(2, latent, 16, 16), torch.tensor([800.0, 250.0]), hidden),
                   ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
                   {"sample": SPATIAL, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"}})
    return text, unet


def extend_id_map(text, id_map):
    """
    Gives the tokens of `id_map` that `text` lacks rows of their own, started from its "unknown" row,
    keeping every row it has (fine-tuning a shipped encoder on a larger vocabulary). Returns the encoder
    and the number of rows added.
    """
    old = text.id_map.clone()
    new_tokens = [t for t in torch.nonzero(id_map).flatten().tolist() if old[t] == 0]
    if not new_tokens:
        return text, 0
    rows = text.token.weight.data
    for offset, token in enumerate(new_tokens):
        old[token] = rows.shape[0] + offset
    text.token = torch.nn.Embedding(rows.shape[0] + len(new_tokens), rows.shape[1])
    text.token.weight.data.copy_(torch.cat([rows, rows[0:1].repeat(len(new_tokens), 1)]))
    text.id_map.copy_(old)
    return text, len(new_tokens)
