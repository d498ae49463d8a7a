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

import glob
import inspect
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
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxImg2ImgPipeline,
    FluxInpaintPipeline,
    FluxPipeline,
    FluxTransformer2DModel,
    LCMScheduler,
    SD3Transformer2DModel,
    StableDiffusion3Img2ImgPipeline,
    StableDiffusion3InpaintPipeline,
    StableDiffusion3Pipeline,
    PNDMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.models.autoencoders import vae as vae_module
from diffusers.schedulers import scheduling_euler_ancestral_discrete, scheduling_lcm
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from optimum.onnxruntime import ORTPipelineForImage2Image, ORTPipelineForInpainting, ORTPipelineForText2Image
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5TokenizerFast,
)

diffusers.utils.logging.set_verbosity_error()  # the tiny pipelines have no safety checker, on purpose

HERE = os.path.dirname(os.path.abspath(__file__))
CLIP = os.path.join(HERE, "..", "fixtures", "clip")
MODELS = os.path.join(HERE, "models")
REFERENCES = os.path.join(HERE, "references")
WIDTH, HEIGHT = 96, 64  # non-square on purpose
# Every folder shares the same text encoders (their vocabulary-sized embeddings are most of a folder's
# bytes; git stores identical exports once).
TEXT_SEED = 1

# diffusers samples the VAE's latent distribution when it encodes an image; flowbot (like optimum's
# exported vae_encoder and its ORT pipelines) takes the mean. The reference does too, so the cases
# compare everything else; flowbot's test says so.
vae_module.DiagonalGaussianDistribution.sample = lambda self, generator=None: self.mode()


# ---- tiny components ----------------------------------------------------------------------------

def clip_text(seed, projection=False):
    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=77, projection_dim=8,
                            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def clip_tokenizer(pad_token="<|endoftext|>"):
    """SD's tokenizer pads with the end token; SDXL's tokenizer_2 (OpenCLIP's) with "!"."""
    return CLIPTokenizer(os.path.join(CLIP, "vocab.json"), os.path.join(CLIP, "merges.txt"),
                         pad_token=pad_token, model_max_length=77)


def unet(seed, in_channels=4, cross=8, linear_projection=False):
    torch.manual_seed(seed)
    return UNet2DConditionModel(use_linear_projection=linear_projection,
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross, attention_head_dim=4).eval()


T5_SENTENCES = [
    "a lighthouse on a cliff at dusk", "blurry, low quality", "a red apple on a wooden table",
    "a cat sitting in the window", "an astronaut riding a horse on the moon", "a bowl of fruit",
    "mountains under a starry night sky", "a watercolor painting of a small harbor town",
]


def t5_tokenizer():
    """A small T5-layout tokenizer (<pad> 0, </s> 1, <unk> 2; Unigram over ▁-prefixed pieces), trained
    here on a few sentences: no hub."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=160, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tok.train_from_iterator(T5_SENTENCES, trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    assert [tok.token_to_id(t) for t in ("<pad>", "</s>", "<unk>")] == [0, 1, 2]
    return T5TokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                           model_max_length=512, extra_ids=0)


def t5_encoder(seed):
    torch.manual_seed(seed)
    return T5EncoderModel(T5Config(vocab_size=160, d_model=32, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                   relative_attention_num_buckets=8, decoder_start_token_id=0)).eval()


def vae16(seed, scaling, shift):
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, layers_per_block=1, norm_num_groups=4,
        block_out_channels=(4, 4, 8, 8), scaling_factor=scaling, shift_factor=shift,
        use_quant_conv=False, use_post_quant_conv=False,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=64).eval()


# scheduler_config.json of stabilityai/stable-diffusion-3.5-medium, FLUX.1-schnell and FLUX.1-dev.
SD3_SCHEDULER_JSON = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.31.0.dev0",
                      "num_train_timesteps": 1000, "shift": 3.0}
SCHNELL_SCHEDULER_JSON = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0",
                          "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096,
                          "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 1.0,
                          "use_dynamic_shifting": False}
DEV_SCHEDULER_JSON = dict(SCHNELL_SCHEDULER_JSON, shift=3.0, use_dynamic_shifting=True)


def sd3_pipeline(seed):
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, num_layers=1, attention_head_dim=8, num_attention_heads=2,
        joint_attention_dim=32, caption_projection_dim=16, pooled_projection_dim=16, out_channels=16,
        pos_embed_max_size=16).eval()
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler.from_config(SD3_SCHEDULER_JSON),
        vae=vae16(seed + 1, 1.5305, 0.0609), text_encoder=clip_text(TEXT_SEED, True),
        tokenizer=clip_tokenizer(), text_encoder_2=clip_text(TEXT_SEED + 1, True),
        tokenizer_2=clip_tokenizer("!"), text_encoder_3=t5_encoder(TEXT_SEED + 2), tokenizer_3=t5_tokenizer())


def flux_pipeline(seed, dev):
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=8, guidance_embeds=dev,
        axes_dims_rope=(2, 2, 4)).eval()
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(DEV_SCHEDULER_JSON if dev else SCHNELL_SCHEDULER_JSON)
    return FluxPipeline(transformer=transformer, scheduler=scheduler, vae=vae16(seed + 1, 0.3611, 0.1159),
                        text_encoder=clip_text(TEXT_SEED), tokenizer=clip_tokenizer(),
                        text_encoder_2=t5_encoder(TEXT_SEED + 2), tokenizer_2=t5_tokenizer())


def sdxl_unet(seed, in_channels=4):
    """SDXL's layout: text_time additional embeddings (pooled text_embeds ‖ 6 time ids)."""
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, attention_head_dim=4, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=8 + 6 * 4).eval()


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


# scheduler/scheduler_config.json of runwayml/stable-diffusion-v1-5, key for key.
SD15_SCHEDULER_JSON = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
                       "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
                       "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                       "trained_betas": None, "clip_sample": False}
# ... and of stabilityai/stable-diffusion-2-1.
SD21_SCHEDULER_JSON = {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", "beta_end": 0.012,
                       "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
                       "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                       "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                       "trained_betas": None}


# ... and of stabilityai/sd-turbo (Euler on trailing timesteps).
SD_TURBO_SCHEDULER_JSON = {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.24.0.dev0",
                           "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                           "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
                           "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
                           "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "trailing",
                           "trained_betas": None, "use_karras_sigmas": False}


def turbo_cases():
    """A Turbo folder at flowbot's defaults for it: 2 steps, no guidance."""
    base = dict(BASE_CASE, steps=2, guidance=0.0)
    return [dict(base, id="generate", operation="generate", negative=""),
            dict(base, id="vary-0.6", operation="vary", negative="", strength=0.6)]


def sd2_scheduler():
    """As stabilityai/stable-diffusion-2-1 ships it: DDIM predicting v."""
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=False,
                         steps_offset=1, prediction_type="v_prediction")


# ... and of stabilityai/stable-diffusion-xl-base-1.0.
SDXL_SCHEDULER_JSON = {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0",
                       "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                       "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
                       "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
                       "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
                       "trained_betas": None, "use_karras_sigmas": False}


def sdxl_pipeline(seed, in_channels=4):
    cls = StableDiffusionXLInpaintPipeline if in_channels == 9 else StableDiffusionXLPipeline
    return cls(vae=vae(seed), text_encoder=clip_text(TEXT_SEED), text_encoder_2=clip_text(TEXT_SEED + 1, True),
               tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer("!"),
               unet=sdxl_unet(seed + 2, in_channels), scheduler=EulerDiscreteScheduler.from_config(SDXL_SCHEDULER_JSON))


def sd_pipeline(seed, scheduler, linear_projection=False, in_channels=4):
    cls = StableDiffusionInpaintPipeline if in_channels == 9 else StableDiffusionPipeline
    return cls(
        vae=vae(seed), text_encoder=clip_text(TEXT_SEED), tokenizer=clip_tokenizer(),
        unet=unet(seed + 2, in_channels=in_channels, linear_projection=linear_projection), scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)


# ---- export -------------------------------------------------------------------------------------

def export(pipe, name, scheduler_json=None, task="text-to-image", fp16=False):
    """save_pretrained (with the scheduler config as the real checkpoint ships it, when given), then
    optimum's exporter with the README's command (a local folder needs --task: optimum infers it only
    for a Hub id). Returns the pipeline loaded back from the saved folder, as a host's diffusers sees it:
    a config key the checkpoint leaves out is a default, which another scheduler class's from_config
    replaces with its own default."""
    out = os.path.join(MODELS, name)
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory() as temp:
        saved = os.path.join(temp, name)  # the configs record this path: keep the temporary part out
        pipe.save_pretrained(saved, safe_serialization=True)
        if scheduler_json:
            with open(os.path.join(saved, "scheduler", "scheduler_config.json"), "w") as f:
                json.dump(scheduler_json, f, indent=2)
        loaded = type(pipe).from_pretrained(saved, safety_checker=None, requires_safety_checker=False)
        cli = os.path.join(os.path.dirname(sys.executable), "optimum-cli")
        command = [cli, "export", "onnx", "--model", saved, "--task", task, out]
        if fp16:
            # optimum's fp16 option. On a CPU its validation (fp32 tolerances, and a logging bug in
            # optimum-onnx 0.1.0) fails after the folder is written; the folder is what we want.
            subprocess.run(command[:-1] + ["--dtype", "fp16", out], check=False)
            if not os.path.exists(os.path.join(out, "model_index.json")):
                raise RuntimeError(f"the fp16 export of {name} wrote no folder")
        else:
            subprocess.run(command, check=True)
    for config in glob.glob(os.path.join(out, "**", "*.json"), recursive=True):
        with open(config) as f:
            data = json.load(f)
        if "_name_or_path" in data:
            data["_name_or_path"] = name
            with open(config, "w") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
    return loaded


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


class StepNoise:
    """Replaces randn_tensor in a stochastic scheduler's module: draws from a fixed generator and
    records each draw (one per step that uses noise), so flowbot's test can feed the same values."""

    def __init__(self, module, seed):
        # module None: a deterministic scheduler, nothing to replace.
        self.module, self.generator, self.draws = module, torch.Generator().manual_seed(seed), []

    def __enter__(self):
        if self.module is None:
            return self
        self.original = self.module.randn_tensor

        def draw(shape, **kw):
            value = torch.randn(shape, generator=self.generator)
            self.draws.append(value.flatten().tolist())
            return value
        self.module.randn_tensor = draw
        return self

    def __exit__(self, *exc):
        if self.module is not None:
            self.module.randn_tensor = self.original


# flowbot's --scheduler names and the diffusers class each claims to match, with the config changes
# that src/pipeline/recipe.ts (schedulerFor) makes.
SCHEDULER_NAMES = {
    "euler": (EulerDiscreteScheduler, dict(use_karras_sigmas=False)),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "ddim": (DDIMScheduler, dict(clip_sample=False, set_alpha_to_one=False)),
    "dpmpp_2m": (DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver++", solver_order=2,
                                                   use_karras_sigmas=False)),
    "dpmpp_2m_karras": (DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver++", solver_order=2,
                                                          use_karras_sigmas=True)),
    "lcm": (LCMScheduler, {}),
}
STEP_NOISE_MODULES = {EulerAncestralDiscreteScheduler: scheduling_euler_ancestral_discrete,
                      LCMScheduler: scheduling_lcm}


def diffusers_module(pipe):
    """The diffusers pipeline module whose randn_tensor a pipeline (or optimum's ORT subclass) calls."""
    cls = next(c for c in type(pipe).__mro__ if c.__module__.startswith("diffusers.pipelines"))
    return sys.modules[cls.__module__]


def with_scheduler(pipe, case):
    """The case's --scheduler name: the diffusers class it claims, from the pipeline's own config."""
    name = case.get("scheduler_name")
    if name:
        cls, changes = SCHEDULER_NAMES[name]
        pipe.scheduler = cls.from_config({**pipe.scheduler.config, **changes})
    return pipe


def run_case(pipe, case, noise):
    pipe.set_progress_bar_config(disable=True)
    store = {}
    # flowbot's empty negative prompt is "none given": diffusers' None (SDXL then uses zeros, as its
    # force_zeros_for_empty_prompt asks; an explicit "" would be encoded instead).
    common = dict(prompt=case["prompt"], num_inference_steps=case["steps"],
                  guidance_scale=case["guidance"], output_type="np",
                  callback_on_step_end=final_latents_callback(store))
    if "max_sequence_length" in case:
        common["max_sequence_length"] = case["max_sequence_length"]
    if not isinstance(pipe, (FluxPipeline, FluxImg2ImgPipeline, FluxInpaintPipeline)):
        common["negative_prompt"] = case["negative"] or None
    module = diffusers_module(pipe)
    step_noise = StepNoise(STEP_NOISE_MODULES.get(type(pipe.scheduler)), 7)
    if case["operation"] == "generate":
        with step_noise, NoiseRecorder(module, noise):
            out = pipe(height=HEIGHT, width=WIDTH, **common)
    elif case["operation"] == "vary":
        with NoiseRecorder(module, noise):
            size = dict(height=HEIGHT, width=WIDTH) if "height" in inspect.signature(pipe.__call__).parameters else {}
            out = pipe(image=Image.fromarray(source_image()), strength=case["strength"], **size, **common)
    else:
        # Not latents=: with latents given, diffusers' inpainting starts from them as pure noise even
        # below strength 1; drawn noise is added to the image as a user's run does.
        with NoiseRecorder(module, noise):
            out = pipe(image=Image.fromarray(source_image()), mask_image=Image.fromarray(mask_image()),
                       height=HEIGHT, width=WIDTH, strength=case["strength"], **common)
    latents = store["latents"]
    if isinstance(pipe, (FluxPipeline, FluxImg2ImgPipeline, FluxInpaintPipeline)):
        latents = FluxPipeline._unpack_latents(latents, HEIGHT, WIDTH, pipe.vae_scale_factor)
    pixels = (out.images[0] * 255).round().astype(np.uint8)
    return torch.as_tensor(np.asarray(latents))[0], pixels, type(pipe.scheduler).__name__, step_noise.draws


BASE_CASE = dict(prompt="a lighthouse on a cliff at dusk", steps=6, guidance=7.5)


def operation_cases():
    """The folder's own scheduler on every operation."""
    return [
        dict(BASE_CASE, id="generate-negative", operation="generate", negative="blurry, low quality"),
        dict(BASE_CASE, id="generate-empty-negative", operation="generate", negative=""),
        dict(BASE_CASE, id="vary-0.6", operation="vary", negative="", strength=0.6),
        dict(BASE_CASE, id="inpaint-blend", operation="inpaint", negative="", strength=1.0),
    ]


def scheduler_cases():
    """Every --scheduler name flowbot offers for SD, against the diffusers class it claims to match."""
    return [dict(BASE_CASE, id=f"scheduler-{name}", operation="generate", negative="blurry", scheduler_name=name)
            for name in SCHEDULER_NAMES]


PIPELINES = {
    "sd": {"generate": StableDiffusionPipeline, "vary": StableDiffusionImg2ImgPipeline,
           "inpaint": StableDiffusionInpaintPipeline},
    "sdxl": {"generate": StableDiffusionXLPipeline, "vary": StableDiffusionXLImg2ImgPipeline,
             "inpaint": StableDiffusionXLInpaintPipeline},
    "sd3": {"generate": StableDiffusion3Pipeline, "vary": StableDiffusion3Img2ImgPipeline,
            "inpaint": StableDiffusion3InpaintPipeline},
    "flux": {"generate": FluxPipeline, "vary": FluxImg2ImgPipeline, "inpaint": FluxInpaintPipeline},
}


def flow_cases(guidance, steps, extra=None):
    """Flow-matching folders: their own guidance and step count; FLUX passes its T5 length."""
    base = dict(BASE_CASE, guidance=guidance, steps=steps, **(extra or {}))
    return [
        dict(base, id="generate-negative", operation="generate", negative="blurry, low quality"),
        dict(base, id="generate-empty-negative", operation="generate", negative=""),
        dict(base, id="vary-0.6", operation="vary", negative="", strength=0.6),
        dict(base, id="inpaint-blend", operation="inpaint", negative="", strength=1.0),
    ]


def native_inpaint_cases():
    """A 9-channel inpainting UNet: the whole masked region, and from the image at strength 0.6."""
    return [dict(BASE_CASE, id="inpaint-native", operation="inpaint", negative="", strength=1.0),
            dict(BASE_CASE, id="inpaint-native-0.6", operation="inpaint", negative="blurry", strength=0.6)]


def decode_as_text_to_image(pipe, latents):
    """StableDiffusion3Pipeline's decode: unscale, unshift, VAE, postprocess."""
    with torch.no_grad():
        z = latents[None] / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
        image = pipe.image_processor.postprocess(pipe.vae.decode(z).sample, output_type="np")[0]
    return (image * 255).round().astype(np.uint8)


ORT_PIPELINES = {"generate": ORTPipelineForText2Image, "vary": ORTPipelineForImage2Image,
                 "inpaint": ORTPipelineForInpainting}


def relative_error(actual, expected):
    return float((actual - expected).abs().max() / expected.abs().max())


def ort_reference(folder, case, noise, latents, pixels):
    """The second reference: optimum's own ORT pipeline on the exported folder, with the same noise
    (optimum-onnx 0.1.0 has no FLUX img2img or inpainting pipeline: then only the reason is kept)."""
    try:
        ort = with_scheduler(ORT_PIPELINES[case["operation"]].from_pretrained(folder), case)
    except ValueError as error:
        return dict(ort_pipeline=None, ort_missing=str(error))
    ort_latents, ort_pixels, _, _ = run_case(ort, case, noise)
    return dict(ort_pipeline=type(ort).__name__, ort_latents=ort_latents.flatten().tolist(),
                ort_vs_diffusers=relative_error(ort_latents, latents),
                ort_pixel_diff=int(np.abs(ort_pixels.astype(int) - pixels.astype(int)).max()))


def make_references(name, pipe, case_list, family):
    components = dict(pipe.components)
    shape = (1, pipe.vae.config.latent_channels, HEIGHT // 8, WIDTH // 8)
    folder = os.path.join(MODELS, name)
    cases = []
    for index, case in enumerate(case_list):
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(1000 + index))
        reference = with_scheduler(PIPELINES[family][case["operation"]](**components), case)
        latents, pixels, scheduler, step_noise = run_case(reference, case, noise)
        image_file = f"{name}-{case['id']}.png"
        Image.fromarray(pixels).save(os.path.join(REFERENCES, image_file))
        if family == "sd3" and case["operation"] == "inpaint":
            # diffusers' SD3 inpainting decodes latents / scaling_factor without adding shift_factor (its
            # text-to-image and img2img pipelines add it). The image its text-to-image decode makes of
            # the same latents is what flowbot is compared with; the test says why.
            case = dict(case, decoded_as_text_to_image=f"{name}-{case['id']}-decoded.png")
            Image.fromarray(decode_as_text_to_image(pipe, latents)).save(
                os.path.join(REFERENCES, case["decoded_as_text_to_image"]))
        cases.append(dict(case, width=WIDTH, height=HEIGHT, scheduler=scheduler, noise=noise.flatten().tolist(),
                          step_noise=step_noise, latents=latents.flatten().tolist(), pixels=image_file,
                          **ort_reference(folder, case, noise, latents, pixels)))
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


# Folders also exported with optimum's fp16 option (one SDXL, one FLUX).
FP16_OF = ("sdxl", "flux-schnell")


def main():
    torch.set_num_threads(2)
    os.makedirs(MODELS, exist_ok=True)
    os.makedirs(REFERENCES, exist_ok=True)
    write_inputs()
    folders = {
        "sd15": ("sd", sd_pipeline(15, sd15_scheduler()), SD15_SCHEDULER_JSON,
                 operation_cases() + scheduler_cases()),
        "sd2-v": ("sd", sd_pipeline(20, sd2_scheduler(), linear_projection=True), SD21_SCHEDULER_JSON,
                  operation_cases()),
        "sd15-inpainting": ("sd", sd_pipeline(25, sd15_scheduler(), in_channels=9), SD15_SCHEDULER_JSON,
                            native_inpaint_cases()),
        "sdxl": ("sdxl", sdxl_pipeline(30), SDXL_SCHEDULER_JSON, operation_cases()),
        "sdxl-inpainting": ("sdxl", sdxl_pipeline(35, in_channels=9), SDXL_SCHEDULER_JSON,
                            native_inpaint_cases()),
        "sd-turbo": ("sd", sd_pipeline(55, EulerDiscreteScheduler.from_config(SD_TURBO_SCHEDULER_JSON)),
                     SD_TURBO_SCHEDULER_JSON, turbo_cases()),
        "sd3": ("sd3", sd3_pipeline(40), SD3_SCHEDULER_JSON, flow_cases(4.5, 6)),
        "flux-schnell": ("flux", flux_pipeline(45, dev=False), SCHNELL_SCHEDULER_JSON,
                         flow_cases(0.0, 4, dict(max_sequence_length=256))),
        "flux-dev": ("flux", flux_pipeline(50, dev=True), DEV_SCHEDULER_JSON,
                     flow_cases(3.5, 6, dict(max_sequence_length=512))),
    }
    only = set(sys.argv[1:])
    for name, (family, pipe, scheduler_json, case_list) in folders.items():
        if only and name not in only:
            continue
        task = "inpainting" if "inpainting" in name else "text-to-image"
        if name in FP16_OF:
            # The fp16 folder: the same pipeline exported with optimum's fp16 option, checked against
            # the fp32 folder's references.
            export(pipe, f"{name}-fp16", scheduler_json, task, fp16=True)
        pipe = export(pipe, name, scheduler_json, task)
        reference = {"source": "test/conformance/make_conformance.py", "versions": versions(), "folder": name,
                     "cases": make_references(name, pipe, case_list, family)}
        with open(os.path.join(REFERENCES, f"{name}.json"), "w") as f:
            json.dump(reference, f)
            f.write("\n")
        print(f"{name}: {len(reference['cases'])} cases")


if __name__ == "__main__":
    main()
