"""One peer of `npm run bench -- peers`, in its own process so its peak RSS is its own.

    python peer_run.py diffusers|optimum <folder> <steps> <guidance> <width> <height> <threads> <prompt>

diffusers: StableDiffusionPipeline on PyTorch CPU (float32) from the saved diffusers folder.
optimum: ORTStableDiffusionPipeline (CPUExecutionProvider) from the optimum export.
Both keep the folder's own scheduler (PNDM, as SD 1.5 ships it). Prints one JSON line: load_s, generate_s
(prompt to PIL image), step_s (mean gap between step ends, the same measure flowbot's side takes) and
peak_rss_mb (getrusage's ru_maxrss: this process's high-water mark, loading included).
"""

import json
import resource
import sys
import time


def load(system, folder, threads):
    if system == "diffusers":
        import torch
        from diffusers import StableDiffusionPipeline

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        return StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    import onnxruntime
    from optimum.onnxruntime import ORTStableDiffusionPipeline

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ORTStableDiffusionPipeline.from_pretrained(folder, provider="CPUExecutionProvider",
                                                      session_options=options)


def main():
    system, folder, steps, guidance, width, height, threads, prompt = sys.argv[1:9]
    steps, guidance, width, height, threads = int(steps), float(guidance), int(width), int(height), int(threads)
    started = time.perf_counter()
    pipe = load(system, folder, threads)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter()
    step_ends = []

    def on_step_end(pipeline, step, timestep, kwargs):
        step_ends.append(time.perf_counter())
        return kwargs

    image = pipe(prompt=prompt, num_inference_steps=steps, guidance_scale=guidance, width=width, height=height,
                 callback_on_step_end=on_step_end).images[0]
    finished = time.perf_counter()
    assert image.size == (width, height)
    print(json.dumps({
        "system": system,
        "pipeline": type(pipe).__name__,
        "scheduler": type(pipe.scheduler).__name__,
        "load_s": loaded - started,
        "generate_s": finished - loaded,
        "step_s": (step_ends[-1] - step_ends[0]) / (len(step_ends) - 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
