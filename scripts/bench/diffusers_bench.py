#!/usr/bin/env python3
"""Times diffusers on the same model folder, the same way `diffuse bench` times Diffuse: one warm-up call,
then N timed calls, median reported, float32 compute, the same thread count. Prints a table and one JSON
line. Not part of CI. Usage: diffusers_bench.py MODEL --size 512 --batch 2 --repeats 3 --threads 2
--components text,unet,vae"""
import argparse
import json
import resource
import statistics
import time

import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--components", default="text,unet,vae")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    comps = a.components.split(",")
    out = {"impl": "diffusers", "size": a.size, "batch": a.batch, "threads": a.threads}

    def record(name, fn):
        fn()
        runs, cpu = [], []
        for _ in range(a.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[name] = statistics.median(runs)
        # CPU seconds of all threads: on a shared machine less sensitive to other load than wall time.
        out[name + "_cpu"] = statistics.median(cpu)
        print(f"{name:<10} {out[name]:9.3f}   " + " ".join(f"{r:.3f}" for r in runs), flush=True)

    load = lambda: StableDiffusionPipeline.from_pretrained(a.model, torch_dtype=torch.float32, safety_checker=None)
    if "load" in comps:
        record("load", load)
    pipe = load()
    g = torch.Generator("cpu").manual_seed(0)
    lat = a.size // 8
    with torch.inference_mode():
        if "text" in comps:
            ids = pipe.tokenizer(["a photograph of an astronaut riding a horse"] * a.batch, padding="max_length",
                                 max_length=77, return_tensors="pt").input_ids
            record("text", lambda: pipe.text_encoder(ids))
        if "unet" in comps:
            x = torch.randn([a.batch, 4, lat, lat], generator=g)
            ctx = torch.randn([a.batch, 77, pipe.text_encoder.config.hidden_size], generator=g)
            record("unet", lambda: pipe.unet(x, 999, encoder_hidden_states=ctx))
        if "vae" in comps:
            z = torch.randn([1, 4, lat, lat], generator=g)
            record("vae", lambda: pipe.vae.decode(z))
        if "pipeline" in comps:
            pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
            record("pipeline", lambda: pipe("a photograph of an astronaut riding a horse", num_inference_steps=a.steps,
                                            height=a.size, width=a.size, output_type="np"))
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
