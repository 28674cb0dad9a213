"""How far the upstream reference itself lands from its fp32 goldens when run in plain bf16 (GPU machine).

The bf16 bar in docs/parity.md is judged against fp32 goldens; this measures what the reference code reaches in
bf16 on the same inputs, so Folio's bf16 errors can be read against it. Uses the reference's own building blocks
(shared/reference/make_goldens.py), unchanged. Usage: python reference_bf16.py SHARED_DIR > out.json
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(sys.argv[1], "reference"))
import make_goldens as ref  # noqa: E402


def relative(ours, golden):
    ours, golden = ours.double().cpu(), golden.double().cpu()
    return float((ours - golden).abs().max() / golden.abs().max())


def cosine(a, b):
    a, b = a.double().cpu().flatten(), b.double().cpu().flatten()
    return float(a.dot(b) / (a.norm() * b.norm()))


def greedy_agreement(ours, golden_ids, margins, threshold=0.1):
    comparable = next((i for i, m in enumerate(margins.tolist()) if m < threshold), len(margins))
    matching = next((i for i, (a, b) in enumerate(zip(ours, golden_ids.tolist())) if a != b), len(ours))
    return {"comparable_steps": comparable, "matching_steps": matching}


@torch.no_grad()
def main():
    goldens_dir = os.path.join(sys.argv[1], "reference", "goldens")
    meta = json.load(open(os.path.join(goldens_dir, "goldens.json")))
    vision = ref.Vision().float()
    ref.load_vision(vision, "cpu")
    vision = vision.to("cuda").to(torch.bfloat16).eval()
    decoder, lm_head, embed = ref.build_decoder(12, "cuda")
    decoder, lm_head, embed = decoder.to(torch.bfloat16), lm_head.to(torch.bfloat16), embed.to(torch.bfloat16)
    report = {}
    for name, case in meta["cases"].items():
        golden = load_file(os.path.join(goldens_dir, f"{name}.safetensors"))
        views = [os.path.join(goldens_dir, f"{name}.global.png")]
        views += [os.path.join(goldens_dir, f"{name}.tile{k}.png") for k in range(case["n_tiles"])]
        pixels = [ref.to_tensor(ref.Image.open(v))[1][None].to("cuda", torch.bfloat16) for v in views]
        stages = {}
        g = vision.encode(pixels[0], stages, "global")
        tiles = vision.encode(torch.cat(pixels[1:]), stages, "tiles") if len(pixels) > 1 else None
        features = vision.layout(g, tiles, tuple(case["tile_grid_wh"]))
        row = {s: relative(stages[s][:1], golden[s]) for s in ("global.sam", "global.clip", "tiles.sam", "tiles.clip")
               if s in stages}
        row["image_features"] = relative(features, golden["image_features"])
        for label, feats in (("own_features", features), ("golden_features", golden["image_features"])):
            ids = golden["input_ids"].cuda()
            x = embed[ids].clone()
            x[1:1 + case["n_image_tokens"]] = feats.to("cuda", torch.bfloat16)
            logits, out, _, _ = ref.decode(decoder, lm_head, x, 32)
            row[label] = {"prompt_logits_max_abs_error": float((logits.float().cpu() - golden["full.prompt_logits"]).abs().max()),
                          "cosine": cosine(logits, golden["full.prompt_logits"]),
                          "greedy": greedy_agreement(out, golden["full.greedy_ids"], golden["full.greedy_top2_margin"])}
        report[name] = row
        print(name, json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
