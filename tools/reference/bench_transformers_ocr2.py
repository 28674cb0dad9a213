#!/usr/bin/env python3
"""Speed of transformers 5.17's own DeepseekOcr2ForConditionalGeneration on DeepSeek-OCR-2: the baseline that Folio's
C++ engine is compared against.

The model is built from the full published config (OCR2.md: SAM ViT-B + 24-layer Qwen2 encoder + 12-layer MoE decoder,
3,389,119,360 parameters) by make_goldens_ocr2.build_synthetic_model, directly in the benchmark dtype on the device, and
filled there with the deterministic synthetic weights of <shared>/reference/synthetic_weights.py (speed does not
depend on the values; no checkpoint needed). attn_implementation="eager" everywhere (SAM, encoder, decoder); the
experts (MoE) implementation is transformers' default unless --experts says otherwise (5.17's default is "grouped_mm";
"eager" is the per-expert Python loop). Pages are make_goldens_ocr2.make_page's synthetic documents; preprocessing is
transformers' DeepseekOcr2ImageProcessorPil, timed separately and not part of any model number.

Measured (after one warm-up run of each; CUDA synchronised around every timed region):
  vision_ms_no_tiles   get_image_features, 700x510 page (global view only -> 257 image tokens), median of --runs
  vision_ms_2x3        get_image_features, 1240x1754 page (2x3 tiles + global -> 1121 tokens), median of --runs
  prefill_ms_2x3       decoder forward over the 2x3 page's prompt [0] + [128815]*1121 + tail (1131 tokens, image rows
                       already filled with the features, i.e. vision excluded), logits of the last token; median
  decode_tokens_per_s  batch 1, greedy, --steps new tokens (eos ignored: own loop with past_key_values, argmax kept on
                       the device); (steps - 1) tokens after the first / their time
  batched_pages_per_s  --batch different 1240x1754 pages in one generate() call (greedy, min_new_tokens =
                       max_new_tokens = --tokens, so eos cannot stop it), wall time including vision and prefill
                       (preprocessing excluded, reported apart); also aggregate tokens/s
  peak_gb              torch.cuda.max_memory_allocated over the whole run (weights included)
--budget-s guard: the batched measurement is skipped (null) when the rest already took longer than the budget; when
the estimate from its warm-up says the full --tokens would overrun, --tokens is lowered to what fits (multiple of 50,
at least 64; reported as transformers_tokens_per_page, with tokens_reduced_by_budget) unless --strict-tokens.

GPU (defaults: cuda, bfloat16, 12 layers, 256 steps, batch 8, 1000 tokens, budget 240 s):
  python3 tools/reference/bench_transformers_ocr2.py --shared /path/to/shared --json bench_transformers_ocr2.json
CPU smoke test:
  python3 tools/reference/bench_transformers_ocr2.py --device cpu --dtype float32 --layers 2 --steps 4 --tokens 4 \\
      --batch 2 --runs 1
"""
import os

_CUBLAS_ENV = os.environ.get("CUBLAS_WORKSPACE_CONFIG")

import argparse
import json
import platform
import resource
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import make_goldens_ocr2 as mg  # noqa: E402  (model config, weight renames, synthetic pages)

# make_goldens_ocr2 asks for a deterministic cuBLAS workspace at import; a speed run keeps the library default
# (CUDA is not initialised yet, so undoing it here takes effect).
if _CUBLAS_ENV is None:
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
else:
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = _CUBLAS_ENV

NO_TILES = mg.CASES["page_700x510"]  # (700, 510, seed 11): no tiles, 257 image tokens
TILES_2X3 = mg.CASES["page_1240x1754"]  # (1240, 1754, seed 12): 2 cols x 3 rows, 1121 image tokens


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"),
                    help="the shared folder (model/tensors_ocr2.json, model/tokenizer.json, reference/)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--layers", type=int, default=12, help="decoder layers (12 = the real model)")
    ap.add_argument("--attn", default="eager", help="attn_implementation (default eager)")
    ap.add_argument("--experts", default="default",
                    help="experts_implementation: default (transformers' choice), eager, grouped_mm, batched_mm")
    ap.add_argument("--runs", type=int, default=5, help="timed runs for vision and prefill (median)")
    ap.add_argument("--steps", type=int, default=256, help="new tokens of the batch-1 decode")
    ap.add_argument("--batch", type=int, default=8, help="pages decoded together by generate()")
    ap.add_argument("--tokens", type=int, default=1000, help="new tokens per page in the batched run")
    ap.add_argument("--budget-s", type=float, default=240.0,
                    help="skip the batched run (null) if everything before it took longer; lower --tokens to fit")
    ap.add_argument("--strict-tokens", action="store_true",
                    help="never lower --tokens: skip the batched run instead when it would overrun the budget")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 2 on cpu, torch's on cuda)")
    ap.add_argument("--json", default="", help="write the results here")
    return ap.parse_args()


def main():
    T0 = time.perf_counter()
    a = parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("CUDA is not available (use --device cpu for a smoke test)")
    dtype = getattr(torch, a.dtype)
    threads = a.threads if a.threads is not None else (None if cuda else 2)
    if threads:
        torch.set_num_threads(threads)
    torch.set_grad_enabled(False)

    import PIL
    import safetensors
    import tokenizers
    import transformers
    from PIL import Image  # noqa: F401
    from tokenizers import Tokenizer
    from transformers import StoppingCriteria, StoppingCriteriaList
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    def now():
        return time.perf_counter() - T0

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "safetensors": safetensors.__version__, "pillow": PIL.__version__, "numpy": np.__version__,
                "cuda": torch.version.cuda if cuda else None}
    dev_name = torch.cuda.get_device_name(dev) if cuda else (platform.processor() or platform.machine()) + " (cpu)"
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, device {dev} ({dev_name}), "
          f"dtype {a.dtype}, attn_implementation={a.attn!r} (set explicitly), experts {a.experts}, "
          f"threads {torch.get_num_threads()}", flush=True)

    # ---- prompt tail from the tokenizer ----
    tok = Tokenizer.from_file(os.path.join(a.shared, "model", "tokenizer.json"))
    assert tok.token_to_id("<image>") == mg.IMAGE_TOKEN
    tail = tok.encode(mg.PROMPT_TAIL, add_special_tokens=False).ids
    gpath = os.path.join(REPO, "tests", "data", "goldens_ocr2", "goldens.json")
    if os.path.exists(gpath):
        gtail = json.load(open(gpath)).get("prompt_tail_ids")
        if gtail is not None and gtail != tail:
            raise SystemExit(f"prompt tail {tail} differs from goldens.json's {gtail}")
    print(f"prompt tail {mg.PROMPT_TAIL!r} -> {tail}", flush=True)

    # ---- model ----
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    t = time.perf_counter()
    model, _, _ = mg.build_synthetic_model(a.layers, dev, dtype=dtype, shared=a.shared, attn=a.attn,
                                           experts=None if a.experts == "default" else a.experts)
    sync()
    t_build = time.perf_counter() - t
    n_params = sum(p.numel() for p in model.parameters())
    if a.layers == 12:
        assert n_params == mg.N_PARAMS_FULL, n_params
    assert {p.dtype for p in model.parameters()} == {dtype}
    vt = model.model.vision_tower
    attn_impl = {"sam": vt.sam_encoder.config._attn_implementation,
                 "encoder": vt.vision_encoder.config._attn_implementation,
                 "decoder": model.model.language_model.config._attn_implementation}
    experts_impl = model.model.language_model.config._experts_implementation
    print(f"model: {a.layers} decoder layers, {n_params:,} parameters, built with synthetic weights on {dev} in "
          f"{t_build:.1f}s; attention {attn_impl}, experts {experts_impl!r}", flush=True)

    # ---- pages and preprocessing (CPU, not part of the model timings) ----
    proc = DeepseekOcr2ImageProcessorPil()
    pages = {"no_tiles": mg.make_page(*NO_TILES), "2x3": mg.make_page(*TILES_2X3)}
    px, pre_ms = {}, {}
    for name, img in pages.items():
        ts = []
        for _ in range(max(1, a.runs)):
            t = time.perf_counter()
            out = proc(img, return_tensors="pt")
            ts.append(time.perf_counter() - t)
        pre_ms[name] = 1e3 * statistics.median(ts)
        px[name] = out

    def on_device(p):
        return dict(pixel_values=p["pixel_values"].to(dev, dtype),
                    pixel_values_local=None if p.get("pixel_values_local") is None
                    else p["pixel_values_local"].to(dev, dtype),
                    num_local_patches=p["num_local_patches"])

    # ---- vision ----
    def timed_median(fn, runs):
        fn()  # warm-up
        sync()
        ts = []
        for _ in range(max(1, runs)):
            sync()
            t = time.perf_counter()
            r = fn()
            sync()
            ts.append(time.perf_counter() - t)
        return 1e3 * statistics.median(ts), [round(1e3 * x, 2) for x in ts], r

    vis_ms, vis_runs, feats = {}, {}, {}
    for name, expect in (("no_tiles", 257), ("2x3", 1121)):
        inp = on_device(px[name])
        vis_ms[name], vis_runs[name], out = timed_median(lambda: model.get_image_features(**inp), a.runs)
        f = out.pooler_output[0]
        assert tuple(f.shape) == (expect, 1280), (name, f.shape)
        feats[name] = f
        print(f"vision {name}: {expect} image tokens, {vis_ms[name]:.2f} ms (median of {vis_runs[name]}); "
              f"preprocessing {pre_ms[name]:.1f} ms", flush=True)

    # ---- prefill of the 2x3 page's prompt ----
    n_img = feats["2x3"].shape[0]
    ids = torch.tensor([0] + [mg.IMAGE_TOKEN] * n_img + tail, dtype=torch.int64, device=dev)
    emb = model.get_input_embeddings()(ids[None])
    emb[0, ids == mg.IMAGE_TOKEN] = feats["2x3"].to(emb.dtype)
    prompt_len = int(ids.shape[0])

    def prefill():
        return model(inputs_embeds=emb, use_cache=True, logits_to_keep=1)

    prefill_ms, prefill_runs, _ = timed_median(prefill, a.runs)
    print(f"prefill 2x3: {prompt_len} tokens, {prefill_ms:.2f} ms (median of {prefill_runs})", flush=True)

    # ---- batch-1 greedy decode ----
    def decode(n):
        out = prefill()
        cache = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        toks = [nxt]
        sync()
        t = time.perf_counter()
        for _ in range(n - 1):
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            toks.append(nxt)
        sync()
        dt = time.perf_counter() - t
        assert cache.get_seq_length() == prompt_len + n - 1
        return dt, torch.cat(toks, 1)[0].tolist()

    decode(min(a.steps, 8))  # warm-up
    steps = max(2, a.steps)
    t_dec, dec_ids = decode(steps)
    decode_tps = (steps - 1) / t_dec
    print(f"decode batch 1: {steps} tokens, {steps - 1} after the first in {t_dec * 1e3:.1f} ms -> "
          f"{decode_tps:.2f} tokens/s ({1e3 * t_dec / (steps - 1):.2f} ms/token); ids {dec_ids[:12]}...", flush=True)
    peak_single = torch.cuda.max_memory_allocated(dev) / 2 ** 30 if cuda else None

    # ---- batched generate() ----
    del emb, feats
    if cuda:
        torch.cuda.empty_cache()
    B = a.batch
    t = time.perf_counter()
    bpages = [pages["2x3"]] + [mg.make_page(TILES_2X3[0], TILES_2X3[1], TILES_2X3[2] + i) for i in range(1, B)]
    t_make = time.perf_counter() - t
    t = time.perf_counter()
    bpx = proc(bpages, return_tensors="pt")
    batch_pre_ms = 1e3 * (time.perf_counter() - t)
    assert bpx["num_local_patches"].tolist() == [6] * B
    binp = on_device(bpx)
    bids = ids[None].expand(B, -1).contiguous()
    bmask = torch.ones_like(bids)

    class StepClock(StoppingCriteria):
        """Records when each generation step's tokens are chosen; never stops anything."""

        def __init__(self):
            self.t = []

        def __call__(self, input_ids, scores, **kw):
            self.t.append(time.perf_counter())
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    def generate(n):
        clock = StepClock()
        sync()
        t = time.perf_counter()
        out = model.generate(input_ids=bids, attention_mask=bmask, **binp, max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, use_cache=True, pad_token_id=1, eos_token_id=1,
                             stopping_criteria=StoppingCriteriaList([clock]))
        sync()
        t_end = time.perf_counter()
        assert tuple(out.shape) == (B, prompt_len + n), out.shape
        steps_t = [x - t for x in clock.t]
        return t_end - t, steps_t, out[:, prompt_len:]

    batched = {"pages_per_s": None, "tokens_per_s": None, "decode_tokens_per_s": None, "first_token_ms": None,
               "wall_s": None, "tokens": a.tokens, "tokens_reduced_by_budget": False, "skipped": None}
    elapsed = now()
    if elapsed > a.budget_s:
        batched["skipped"] = f"budget: {elapsed:.0f}s already spent of --budget-s {a.budget_s:.0f}"
    else:
        nw = min(a.tokens, 8)
        tw, sw, _ = generate(nw)  # warm-up (also the estimate)
        first = sw[0]
        per_step = (sw[-1] - sw[0]) / max(1, len(sw) - 1) if len(sw) > 1 else first
        est = first + (a.tokens - 1) * per_step
        left = a.budget_s - now()
        print(f"batched warm-up: {B} pages x {nw} tokens in {tw:.2f}s (first token {first * 1e3:.0f} ms, "
              f"{per_step * 1e3:.1f} ms/step); estimate for {a.tokens} tokens {est:.1f}s, budget left {left:.0f}s",
              flush=True)
        n = a.tokens
        if est > left:
            fit = int(((left - first) / per_step + 1) // 50 * 50) if per_step > 0 else 0
            if a.strict_tokens or fit < 64:
                batched["skipped"] = (f"budget: {a.tokens} tokens estimated {est:.0f}s, {left:.0f}s left"
                                      + ("" if a.strict_tokens else f" (would fit {fit} < 64 tokens)"))
            else:
                n = fit
                batched["tokens_reduced_by_budget"] = True
                print(f"batched: lowering --tokens {a.tokens} -> {n} to fit the budget", flush=True)
        if not batched["skipped"]:
            if cuda:
                torch.cuda.reset_peak_memory_stats(dev)
            wall, st, gen = generate(n)
            batched.update(tokens=n, wall_s=wall, pages_per_s=B / wall, tokens_per_s=B * n / wall,
                           first_token_ms=1e3 * st[0],
                           decode_tokens_per_s=(B * (n - 1) / (st[-1] - st[0])) if n > 1 else None)
            same = 0
            for x, y in zip(gen[0].tolist(), dec_ids):
                if x != y:
                    break
                same += 1
            batched["page0_prefix_equal_to_batch1"] = same
            batched["peak_gb"] = torch.cuda.max_memory_allocated(dev) / 2 ** 30 if cuda else None
            print(f"batched: {B} pages x {n} tokens in {wall:.2f}s -> {B / wall:.3f} pages/s, "
                  f"{B * n / wall:.1f} tokens/s aggregate (first token after {st[0] * 1e3:.0f} ms: vision + prefill "
                  f"of {B} pages; then {batched['decode_tokens_per_s'] or 0:.1f} tokens/s); page 0's first {same} "
                  f"tokens equal the batch-1 decode", flush=True)
    if batched["skipped"]:
        print(f"batched: SKIPPED ({batched['skipped']})", flush=True)

    peak = torch.cuda.max_memory_allocated(dev) / 2 ** 30 if cuda else None
    if cuda and peak_single is not None:
        peak = max(peak, peak_single)
    total_s = now()

    def r(x, nd=2):
        return None if x is None else round(x, nd)

    res = {
        "transformers_vision_ms_no_tiles": r(vis_ms["no_tiles"]),
        "transformers_vision_ms_2x3": r(vis_ms["2x3"]),
        "transformers_prefill_ms_2x3": r(prefill_ms),
        "transformers_decode_tokens_per_s": r(decode_tps),
        "transformers_batched_pages_per_s": r(batched["pages_per_s"], 4),
        "transformers_batched_tokens_per_s": r(batched["tokens_per_s"]),
        "transformers_batched_decode_tokens_per_s": r(batched["decode_tokens_per_s"]),
        "transformers_batched_first_token_ms": r(batched["first_token_ms"]),
        "transformers_batched_wall_s": r(batched["wall_s"], 3),
        "transformers_batch": B,
        "transformers_tokens_per_page": batched["tokens"],
        "transformers_tokens_reduced_by_budget": batched["tokens_reduced_by_budget"],
        "transformers_batched_skipped": batched["skipped"],
        "transformers_peak_gb": r(peak),
        "transformers_peak_gb_single_page": r(peak_single),
        "transformers_peak_gb_batched": r(batched.get("peak_gb")),
        "transformers_preprocess_ms_no_tiles": r(pre_ms["no_tiles"]),
        "transformers_preprocess_ms_2x3": r(pre_ms["2x3"]),
        "transformers_preprocess_ms_batch": r(batch_pre_ms),
        "vision_runs_ms": vis_runs, "prefill_runs_ms": prefill_runs,
        "image_tokens": {"no_tiles": 257, "2x3": n_img}, "prompt_tokens_2x3": prompt_len, "prompt_tail_ids": tail,
        "decode_steps": steps, "decode_ids_head": dec_ids[:32],
        "batched_page0_prefix_equal_to_batch1": batched.get("page0_prefix_equal_to_batch1"),
        "model": "transformers DeepseekOcr2ForConditionalGeneration, full published config, synthetic weights",
        "decoder_layers": a.layers, "n_params": n_params, "build_s": round(t_build, 1),
        "attn_implementation": attn_impl, "experts_implementation": experts_impl, "dtype": a.dtype,
        "device": str(dev), "device_name": dev_name, "threads": torch.get_num_threads(), "versions": versions,
        "budget_s": a.budget_s, "total_s": round(total_s, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
    }

    def fmt(x, unit=""):
        return "n/a" if x is None else f"{x}{unit}"

    rows = [
        ("vision, 700x510 page, no tiles (257 tokens)", f"{res['transformers_vision_ms_no_tiles']} ms"),
        ("vision, 1240x1754 page, 2x3 tiles (1121 tokens)", f"{res['transformers_vision_ms_2x3']} ms"),
        (f"prefill, 2x3 prompt ({prompt_len} tokens)", f"{res['transformers_prefill_ms_2x3']} ms"),
        (f"decode, batch 1 ({steps} tokens)", f"{res['transformers_decode_tokens_per_s']} tokens/s"),
        (f"batched, {B} pages x {batched['tokens']} tokens" + (" (lowered by budget)" if
                                                              batched["tokens_reduced_by_budget"] else ""),
         "skipped" if batched["skipped"] else f"{res['transformers_batched_pages_per_s']} pages/s"),
        ("  aggregate tokens/s (incl. vision, prefill)", fmt(res["transformers_batched_tokens_per_s"])),
        ("  decode tokens/s after the first token", fmt(res["transformers_batched_decode_tokens_per_s"])),
        ("  first token (vision + prefill of the batch)", fmt(res["transformers_batched_first_token_ms"], " ms")),
        ("peak GPU memory (max allocated)", fmt(res["transformers_peak_gb"], " GB")),
        ("preprocessing (PIL processor, not included)", f"{res['transformers_preprocess_ms_no_tiles']} / "
                                                        f"{res['transformers_preprocess_ms_2x3']} ms; batch "
                                                        f"{res['transformers_preprocess_ms_batch']} ms"),
        ("model build (synthetic weights)", f"{t_build:.1f} s; total run {total_s:.1f} s"),
    ]
    w = max(len(k) for k, _ in rows)
    print()
    print(f"transformers {transformers.__version__} DeepseekOcr2ForConditionalGeneration on {dev_name}: {a.dtype}, "
          f"attn_implementation={a.attn!r} (explicit), experts {experts_impl!r}, {a.layers} decoder layers")
    print("-" * (w + 24))
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    print("-" * (w + 24))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {a.json}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
