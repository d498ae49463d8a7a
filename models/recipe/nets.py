"""
Network definitions of flowbot's shipped model: a small latent autoencoder, a CLIP-tokenised causal
text transformer, and a rectified-flow UNet denoiser with adaptive group norm and cross-attention.
Shapes are chosen for cheap steps on a 2-core CPU: 64 px images, 16x16x4 latents.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F


def group_norm(channels):
    return nn.GroupNorm(min(32, channels // 4), channels)


class ResBlock(nn.Module):
    """Pre-norm residual block; with `cond_dim`, the norm's scale and shift come from the condition."""

    def __init__(self, cin, cout, cond_dim=0):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.film = nn.Linear(cond_dim, 2 * cout) if cond_dim else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x, cond=None):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.norm2(h)
        if self.film is not None:
            scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class Encoder(nn.Module):
    """64x64x3 -> 16x16x(2*latent) (mean and log-variance)."""

    def __init__(self, latent=4, width=(32, 64, 96)):
        super().__init__()
        a, b, c = width
        self.net = nn.Sequential(
            nn.Conv2d(3, a, 3, padding=1),
            nn.Conv2d(a, b, 3, stride=2, padding=1),
            ResBlock(b, b),
            nn.Conv2d(b, c, 3, stride=2, padding=1),
            ResBlock(c, c),
            ResBlock(c, c),
            group_norm(c),
            nn.SiLU(),
            nn.Conv2d(c, 2 * latent, 3, padding=1),
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """16x16xlatent -> 64x64x3 in [-1, 1] (unclamped)."""

    def __init__(self, latent=4, width=(32, 64, 96)):
        super().__init__()
        a, b, c = width
        self.net = nn.Sequential(
            nn.Conv2d(latent, c, 3, padding=1),
            ResBlock(c, c),
            ResBlock(c, c),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(c, b, 3, padding=1),
            ResBlock(b, b),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(b, a, 3, padding=1),
            group_norm(a),
            nn.SiLU(),
            nn.Conv2d(a, 3, 3, padding=1),
        )

    def forward(self, z):
        return self.net(z)


class TextEncoder(nn.Module):
    """
    CLIP BPE ids [B, L] -> token states [B, L, D] and pooled [B, D] (the state at the first end token).
    Only token ids seen in training get their own embedding; `id_map` maps CLIP's 49,408 ids to them,
    and every unseen id shares one learned "unknown" row.
    """

    def __init__(self, id_map, dim=128, layers=2, heads=4, length=32, end_token=49407):
        super().__init__()
        self.register_buffer("id_map", id_map.long(), persistent=True)
        vocab = int(id_map.max().item()) + 1
        self.token = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(torch.randn(length, dim) * 0.01)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.end_token = end_token
        self.register_buffer("causal", torch.triu(torch.full((length, length), float("-inf")), diagonal=1), persistent=False)

    def forward(self, input_ids):
        ids = input_ids.long()
        length = ids.shape[1]
        h = self.token(self.id_map[ids]) + self.position[:length]
        h = self.layers(h, mask=self.causal[:length, :length])
        h = self.norm(h)
        end = (ids == self.end_token).float().argmax(dim=1)
        pooled = h[torch.arange(h.shape[0]), end]
        return h, pooled


def round_to_half(module):
    """
    Every float parameter and buffer rounded to fp16 precision (kept fp32), as v3's export stores the
    weights; the evaluation measures the same rounded weights.
    """
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.dtype == torch.float32:
                tensor.copy_(tensor.half().float())
    return module.eval()


def timestep_embedding(t, dim):
    """Sinusoidal embedding of timesteps t in [0, 1000]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class CrossAttention(nn.Module):
    """Image positions attend to text tokens (and, with `self_attend`, to each other)."""

    def __init__(self, channels, text_dim, heads=4):
        super().__init__()
        self.norm = group_norm(channels)
        self.heads = heads
        self.q = nn.Linear(channels, channels)
        self.kv_text = nn.Linear(text_dim, 2 * channels)
        self.kv_self = nn.Linear(channels, 2 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, text):
        b, c, hh, ww = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
        q = self.q(seq)
        k_text, v_text = self.kv_text(text).chunk(2, dim=-1)
        k_self, v_self = self.kv_self(seq).chunk(2, dim=-1)
        k = torch.cat([k_self, k_text], dim=1)
        v = torch.cat([v_self, v_text], dim=1)

        def split(t):
            return t.reshape(b, t.shape[1], self.heads, c // self.heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // self.heads), dim=-1)
        h = (weights @ v).transpose(1, 2).reshape(b, hh * ww, c)
        return x + self.out(h).transpose(1, 2).reshape(b, c, hh, ww)


class FlowUNet(nn.Module):
    """
    Rectified-flow denoiser on 16x16 latents, patchified 2x2 so that it runs at 8x8 and 4x4 (cheap steps
    on a CPU). Inputs follow diffusers' UNet names: sample [B, C, 16, 16], timestep [B] (σ·1000),
    encoder_hidden_states [B, L, D] -> velocity [B, C, 16, 16]. Time and the mean text state condition
    every block's norm; cross-attention to the text tokens runs at 4x4.
    """

    def __init__(self, latent=4, text_dim=128, widths=(96, 192), cond_dim=256, tokens=32, patch=2):
        super().__init__()
        a, b = widths
        self.tokens = tokens
        self.patch = patch
        self.time = nn.Sequential(nn.Linear(128, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.text_pool = nn.Linear(text_dim, cond_dim)
        self.conv_in = nn.Conv2d(latent * patch * patch, a, 3, padding=1)
        self.down1 = ResBlock(a, a, cond_dim)
        self.down_sample = nn.Conv2d(a, b, 3, stride=2, padding=1)
        self.down2 = ResBlock(b, b, cond_dim)
        self.attn_down = CrossAttention(b, text_dim)
        self.attn_mid = CrossAttention(b, text_dim)
        self.up2 = ResBlock(2 * b, b, cond_dim)
        self.up_sample = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(b, a, 3, padding=1))
        self.up1 = ResBlock(2 * a, a, cond_dim)
        self.norm_out = group_norm(a)
        self.conv_out = nn.Conv2d(a, latent * patch * patch, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample, timestep, encoder_hidden_states):
        text = encoder_hidden_states[:, : self.tokens]
        t = timestep.float().reshape(-1).expand(sample.shape[0])
        cond = F.silu(self.time(timestep_embedding(t, 128)) + self.text_pool(text.mean(dim=1)))
        return self.body(sample, cond, text)

    def body(self, sample, cond, text):
        """The UNet proper: `cond` [B, cond_dim] conditions the norms, `text` [B, L, 128] the attention."""
        x = F.pixel_unshuffle(sample, self.patch)
        h1 = self.down1(self.conv_in(x), cond)
        h2 = self.attn_down(self.down2(self.down_sample(h1), cond), text)
        m = self.attn_mid(h2, text)
        u2 = self.up2(torch.cat([m, h2], dim=1), cond)
        u1 = self.up1(torch.cat([self.up_sample(u2), h1], dim=1), cond)
        return F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(u1))), self.patch)


class TextProjection(nn.Module):
    """
    v3: the frozen sentence encoder's token states [B, L, 384] -> the UNet's text width [B, L, 128].
    Padding rows arrive as zeros and stay zeros-in (the projection's bias makes them one shared key).
    """

    def __init__(self, encoder_dim=384, text_dim=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(encoder_dim, text_dim), nn.LayerNorm(text_dim))

    def forward(self, states):
        return self.net(states)


class ConditionedUNet(FlowUNet):
    """
    v3's denoiser: FlowUNet cross-attending to a pretrained sentence encoder's token states through a
    learned projection, its adaptive norms fed by the encoder's pooled sentence vector. Inputs follow
    diffusers' names: sample, timestep (σ·1000), encoder_hidden_states [B, L, 384] (padding rows zero),
    pooled_projections [B, 384] -> out_sample.
    """

    def __init__(self, latent=4, encoder_dim=384, widths=(128, 256), cond_dim=256, tokens=32, patch=2):
        super().__init__(latent, text_dim=128, widths=widths, cond_dim=cond_dim, tokens=tokens, patch=patch)
        del self.text_pool
        self.text_proj = TextProjection(encoder_dim, 128)
        self.pooled_proj = nn.Linear(encoder_dim, cond_dim)

    def forward(self, sample, timestep, encoder_hidden_states, pooled_projections):
        text = self.text_proj(encoder_hidden_states[:, : self.tokens])
        t = timestep.float().reshape(-1).expand(sample.shape[0])
        cond = F.silu(self.time(timestep_embedding(t, 128)) + self.pooled_proj(pooled_projections))
        return self.body(sample, cond, text)

    def cross_attention_parameters(self):
        """What stage A of the fine-tune trains: the new projections and both cross-attention blocks."""
        for module in (self.text_proj, self.pooled_proj, self.attn_down, self.attn_mid):
            yield from module.parameters()
