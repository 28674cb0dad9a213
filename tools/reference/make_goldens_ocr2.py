#!/usr/bin/env python3
"""Golden tensors for DeepSeek-OCR-2 parity tests, with transformers' implementation as the oracle.

The oracle is transformers 5.17's DeepseekOcr2ForConditionalGeneration (somebody else's code, used as a library),
built from an explicit config (no hub download) and filled with the deterministic synthetic weights of
<shared>/reference/synthetic_weights.py (original checkpoint names, mapped to transformers' parameter names).
Preprocessing: transformers' DeepseekOcr2ImageProcessorPil. Everything runs in float32, TF32 off, eager attention
and eager (per-expert loop) MoE.

Two decoder variants share the vision part: ci (decoder layers 0-1: dense + one MoE layer) and full (12 layers).
Pass 1 on a small machine:   --variants ci        (writes pages, preprocessed views, vision tensors, ci.* keys)
Pass 2 anywhere (e.g. GPU):  --variants full      (adds full.* keys to the existing files)
A case whose .safetensors already holds the vision tensors is not re-synthesised: the model is fed the stored
preprocessed PNGs (exactly the processor's tensors, checked when they were written) and the vision tensors are
kept; the fresh ones are only compared. --redo-vision forces a fresh start.

Usage: python3 make_goldens_ocr2.py [--variants ci,full] [--device cpu|cuda] [--out DIR] [--shared DIR]
"""
import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS; must precede CUDA init

import argparse
import json
import math
import random
import re
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

IMAGE_TOKEN = 128815
GROUNDING_TOKEN = 128820
PROMPT = "<image>\n<|grounding|>Convert the document to markdown."
PROMPT_TAIL = PROMPT[len("<image>"):]
BASE, TILE = 1024, 768
N_PARAMS_FULL = 3_389_119_360  # OCR2.md / tensors_ocr2.json
DECODER_LAYERS = {"ci": 2, "full": 12}
# Cases: name -> (width, height, seed). Sizes keep the global view's pad even (HF floors the pad, PIL rounds
# half-to-even; they agree on even pads), asserted below.
CASES = {
    "page_700x510": (700, 510, 11),  # no tiles (both sides <= 768): 257 image tokens
    "page_1240x1754": (1240, 1754, 12),  # 2 cols x 3 rows: 1121
    "wide_3000x540": (3000, 540, 13),  # 6 x 1: 1121
}


# ----------------------------------------------------------------------------------------------------------------
# Configuration and weights
# ----------------------------------------------------------------------------------------------------------------
def build_config(n_layers):
    from transformers import DeepseekOcr2Config
    sam = dict(hidden_size=768, output_channels=256, num_hidden_layers=12, num_attention_heads=12, num_channels=3,
               image_size=1024, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-6, window_size=14,
               global_attn_indexes=[2, 5, 8, 11], mlp_dim=3072, downsample_channels=[512, 896])
    enc = dict(vocab_size=1, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
               num_key_value_heads=2, hidden_act="silu", rms_norm_eps=1e-6,
               rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    text = dict(vocab_size=129280, hidden_size=1280, intermediate_size=6848, moe_intermediate_size=896,
                num_hidden_layers=n_layers, num_attention_heads=10, num_key_value_heads=10, head_dim=128,
                max_position_embeddings=8192, rms_norm_eps=1e-6, n_routed_experts=64, n_shared_experts=2,
                num_experts_per_tok=6, routed_scaling_factor=1.0, topk_method="greedy", n_group=1, topk_group=1,
                attention_bias=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                mlp_layer_types=["dense"] + ["sparse"] * (n_layers - 1), bos_token_id=0, eos_token_id=1,
                tie_word_embeddings=False)
    return DeepseekOcr2Config(image_token_id=IMAGE_TOKEN, tie_word_embeddings=False,
                              vision_config=dict(sam_config=sam, encoder_config=enc), text_config=text)


def instantiate(n_layers, device, dtype=None, attn="eager", experts="eager"):
    """The transformers model with uninitialised parameters (every one is overwritten by load_synthetic).

    dtype None: the config's (float32); experts None: transformers' default experts implementation."""
    from transformers import DeepseekOcr2ForConditionalGeneration
    kw = dict(attn_implementation=attn)
    if experts is not None:
        kw["experts_implementation"] = experts
    if dtype is not None:
        kw["dtype"] = dtype
    if str(device) == "meta":
        with torch.device("meta"):
            return DeepseekOcr2ForConditionalGeneration._from_config(build_config(n_layers), **kw)
    from transformers.initialization import no_init_weights
    # under use_deterministic_algorithms torch.empty fills memory with NaN: that would make the whole model resident
    # before --mmap-weights replaces it (coverage of every parameter is checked by check_plan instead)
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        with no_init_weights(), torch.device(device):
            m = DeepseekOcr2ForConditionalGeneration._from_config(build_config(n_layers), **kw)
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill
    return m.eval()


SAM = "model.vision_tower.sam_encoder."
# Original checkpoint name -> transformers parameter name (OCR2.md, "Checkpoint tensors"); first match wins, and a
# name matching no rule is an error.
RENAMES = [
    (r"^model\.sam_model\.pos_embed$", SAM + "pos_embed"),
    (r"^model\.sam_model\.patch_embed\.proj\.", SAM + "patch_embed.projection."),
    (r"^model\.sam_model\.blocks\.(\d+)\.norm([12])\.", SAM + r"layers.\1.layer_norm\2."),
    (r"^model\.sam_model\.blocks\.(\d+)\.(attn|mlp)\.", SAM + r"layers.\1.\2."),
    (r"^model\.sam_model\.neck\.0\.", SAM + "neck.conv1."),
    (r"^model\.sam_model\.neck\.1\.", SAM + "neck.layer_norm1."),
    (r"^model\.sam_model\.neck\.2\.", SAM + "neck.conv2."),
    (r"^model\.sam_model\.neck\.3\.", SAM + "neck.layer_norm2."),
    (r"^model\.sam_model\.net_2\.", SAM + "proj.conv1."),
    (r"^model\.sam_model\.net_3\.", SAM + "proj.conv2."),
    (r"^model\.qwen2_model\.model\.model\.layers\.", "model.vision_tower.vision_encoder.layers."),
    (r"^model\.qwen2_model\.model\.model\.norm\.", "model.vision_tower.vision_encoder.norm."),
    (r"^model\.qwen2_model\.query_(768|1024)\.", r"model.vision_tower.query_\1_resolution."),
    (r"^model\.projector\.layers\.", "model.multi_modal_projector."),
    (r"^model\.view_seperator$", "model.view_separator"),
    (r"^model\.(embed_tokens|layers|norm)\.", r"model.language_model.\1."),
    (r"^lm_head\.weight$", "lm_head.weight"),
]
EXPERT = re.compile(r"^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$")
DECODER_LAYER = re.compile(r"^model\.layers\.(\d+)\.")


def weight_plan(manifest):
    """hf name -> list of (original name, original shape, (expert, row slice) or None for the whole tensor)."""
    plan = {}
    for name, shape in manifest.items():
        m = EXPERT.match(name)
        if m:
            layer, e, which = int(m.group(1)), int(m.group(2)), m.group(3)
            base = f"model.language_model.layers.{layer}.mlp.experts."
            if which == "down":
                plan.setdefault(base + "down_proj", []).append((name, shape, (e, None)))
            else:  # gate_up_proj[e] = cat(gate_proj, up_proj) on dim 0
                rows = shape[0]
                sl = slice(0, rows) if which == "gate" else slice(rows, 2 * rows)
                plan.setdefault(base + "gate_up_proj", []).append((name, shape, (e, sl)))
            continue
        for pat, rep in RENAMES:
            if re.match(pat, name):
                hf = re.sub(pat, rep, name)
                assert hf not in plan, f"two original tensors map to {hf}"
                plan[hf] = [(name, shape, None)]
                break
        else:
            raise SystemExit(f"no rename rule for original tensor {name}")
    return plan


def check_plan(model, plan, n_layers):
    """Fail loudly unless the plan covers exactly the model's parameters with the right shapes."""
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(plan))
    extra = []
    for hf, parts in plan.items():
        if hf in params:
            continue
        m = DECODER_LAYER.match(parts[0][0])
        if not (m and int(m.group(1)) >= n_layers):  # only decoder layers beyond a truncated model may be unused
            extra.append(hf)
    if missing or extra:
        raise SystemExit(f"weight mapping mismatch: model parameters not covered {missing[:20]} "
                         f"({len(missing)}), mapped names not in the model {extra[:20]} ({len(extra)})")
    sd_keys = set(model.state_dict().keys())
    if sd_keys != set(params):
        raise SystemExit(f"state_dict holds entries that are not parameters: {sorted(sd_keys - set(params))}")
    for hf, p in params.items():
        parts = plan[hf]
        shape = list(p.shape)
        if parts[0][2] is None:
            if len(parts) != 1 or list(parts[0][1]) != shape:
                raise SystemExit(f"shape mismatch {hf}: model {shape}, checkpoint {parts[0][1]}")
            continue
        covered = np.zeros(shape[:2], dtype=np.int32)  # [experts, rows] coverage count
        for name, s, (e, sl) in parts:
            rows = covered[e] if sl is None else covered[e, sl]
            if list(s) != [rows.shape[0]] + shape[2:]:
                raise SystemExit(f"shape mismatch {name} {s} in {hf} {shape}")
            rows += 1
        if not (covered == 1).all():
            raise SystemExit(f"fused tensor {hf} not covered exactly once by its experts")
    return len(params)


CHUNK = 1 << 24  # elements generated at a time (bounds the formula's int64 temporaries: ~0.5 GB)


def fill_synthetic(sw, dest, name, shape, device, chunk=CHUNK):
    """dest <- sw.synthetic_tensor(name, shape), generated in row blocks for big tensors.

    The formula's element stream is x_i = fmix32(i*0x9E3779B1 + seed): rows r0.. of a tensor are the stream of a
    tensor starting at index 0 with seed' = seed + r0*row*0x9E3779B1 (mod 2^32), and the per-kind scale depends only
    on the name and on shape[1:]. So each block is sw.synthetic_tensor itself, with its name hash swapped for
    seed' (self-tested bit-exactly in main())."""
    numel = math.prod(shape)
    if len(shape) < 2 or numel <= chunk:
        dest.copy_(sw.synthetic_tensor(name, list(shape), device))
        return
    seed, row = sw.fnv1a32(name), math.prod(shape[1:])
    step = max(1, chunk // row)
    orig = sw.fnv1a32
    try:
        for r0 in range(0, shape[0], step):
            r1 = min(shape[0], r0 + step)
            sw.fnv1a32 = lambda _name, s=(seed + r0 * row * 0x9E3779B1) & 0xFFFFFFFF: s
            dest[r0:r1].copy_(sw.synthetic_tensor(name, [r1 - r0] + list(shape[1:]), device))
    finally:
        sw.fnv1a32 = orig


@torch.no_grad()
def load_synthetic(model, plan, n_layers, sw, device):
    """Overwrite every parameter in place with the synthetic weights (no second copy of the model in memory)."""
    n = check_plan(model, plan, n_layers)
    for hf, p in model.named_parameters():
        for name, shape, dest in plan[hf]:
            if dest is None:
                fill_synthetic(sw, p, name, shape, device)
            else:
                e, sl = dest
                fill_synthetic(sw, p[e] if sl is None else p[e, sl], name, shape, device)
    check_buffers(model)
    return n


@torch.no_grad()
def load_synthetic_mmap(model, plan, n_layers, sw, path):
    """CPU, little RAM: write the synthetic weights to a flat float32 file and make every parameter a view of its
    copy-on-write mapping. The pages are file-backed and clean, so under memory pressure the kernel drops and
    re-reads them instead of running out of memory. Same values as load_synthetic."""
    n = check_plan(model, plan, n_layers)
    params = list(model.named_parameters())
    total = sum(p.numel() for _, p in params)
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(total,))
    buf, off = torch.from_numpy(mm), 0
    for hf, p in params:
        view = buf[off:off + p.numel()].view(p.shape)
        for name, shape, dest in plan[hf]:
            if dest is None:
                fill_synthetic(sw, view, name, shape, "cpu")
            else:
                e, sl = dest
                fill_synthetic(sw, view[e] if sl is None else view[e, sl], name, shape, "cpu")
        off += p.numel()
    mm.flush()
    del buf, mm
    buf, off = torch.from_numpy(np.memmap(path, dtype=np.float32, mode="c", shape=(total,))), 0
    for hf, p in params:
        mod_name, _, leaf = hf.rpartition(".")
        setattr(model.get_submodule(mod_name), leaf,
                torch.nn.Parameter(buf[off:off + p.numel()].view(p.shape), requires_grad=False))
        off += p.numel()
    check_buffers(model)
    return n


def build_synthetic_model(n_layers, device, dtype=torch.float32, shared=None, attn="eager", experts="eager"):
    """Entry point for other scripts: the transformers model with n_layers decoder layers, built on device in dtype
    and filled with the synthetic weights (mapped from the original names as in main()). The synthetic values are
    bf16-exact, so float32 and bfloat16 builds hold the same weights. Returns (model, weight plan, synthetic_weights
    module)."""
    shared = shared or os.path.join(os.path.dirname(REPO), "shared")
    sys.path.insert(0, os.path.join(shared, "reference"))
    import synthetic_weights as sw  # noqa: E402  (shared reference material: the weight formula)
    manifest = json.load(open(os.path.join(shared, "model", "tensors_ocr2.json")))
    assert manifest["total_params"] == N_PARAMS_FULL
    plan = weight_plan(manifest["tensors"])
    model = instantiate(n_layers, device, dtype=dtype, attn=attn, experts=experts)
    load_synthetic(model, plan, n_layers, sw, device)
    return model.eval(), plan, sw


def check_buffers(model):
    # buffers are computed in __init__, not loaded: check the rotary tables against their definition
    for prefix, theta, dim in (("model.vision_tower.vision_encoder", 1e6, 64), ("model.language_model", 1e4, 128)):
        inv = dict(model.named_buffers())[prefix + ".rotary_emb.inv_freq"]
        ref = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).to(device=inv.device, dtype=torch.float) / dim))
        assert torch.equal(inv, ref), prefix + " inv_freq differs from its definition"


# ----------------------------------------------------------------------------------------------------------------
# Test pages
# ----------------------------------------------------------------------------------------------------------------
def make_page(w, h, seed):
    """A document-like page: off-white paper, a title, columns of pseudo-glyph text, a table and a figure box.

    Only Python's random.Random (stable across versions) and PIL drawing primitives, so the page is the same on
    any machine."""
    r = random.Random(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tint = 3.0 * (xx / w) - 4.0 * (yy / h)  # gentle, smooth paper shading
    paper = np.stack([246 + tint, 243 + tint, 234 + 0.5 * tint], axis=-1)
    img = Image.fromarray(np.clip(np.round(paper), 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(int(w * h / 20000)):  # dust specks
        x, y = r.randrange(w), r.randrange(h)
        g = r.randrange(150, 215)
        d.point((x, y), fill=(g, g, g - 8))

    f = max(8, min(22, int(round(h * 0.018))))  # text height (the "font size")
    ink = [(24, 24, 28), (34, 30, 26), (20, 28, 60)]

    def glyph(x, y, gw, gh, color, width):
        pts = [(x + gw * i / 2.0, y + gh * j / 3.0) for i in range(3) for j in range(4)]
        for _ in range(r.randint(2, 4)):
            a, b = r.sample(pts, 2)
            d.line([a, b], fill=color, width=width)

    def text_line(x0, x1, y, size, color, width, ragged=True):
        x = x0
        end = x1 - (r.random() * 0.35 * (x1 - x0) if ragged else 0)
        while x < end:
            n = r.randint(2, 9)
            gw = size * 0.55
            if x + n * gw * 1.2 > x1:
                break
            for _ in range(n):
                glyph(x, y, gw, size, color, width)
                x += gw * 1.2
            x += size * 0.7

    mx, my = int(w * 0.07), int(h * 0.05)
    y = my
    # header rule and title
    d.line([(mx, y), (w - mx, y)], fill=(90, 90, 90), width=max(1, f // 10))
    y += f
    tsize = int(f * 2.0)
    text_line(mx, int(mx + (w - 2 * mx) * 0.6), y, tsize, (10, 10, 12), max(2, tsize // 7), ragged=False)
    y += int(tsize * 1.9)

    ncols = max(1, int(w / 900))
    gap = int(f * 2)
    cw = (w - 2 * mx - (ncols - 1) * gap) / ncols
    top = y
    for c in range(ncols):
        x0 = int(mx + c * (cw + gap))
        x1 = int(x0 + cw)
        y = top
        boxes = ["table", "figure"] if (c + seed) % 2 == 0 else ["figure", "table"]
        while y + f < h - my - 2 * f:
            u = r.random()
            room = h - my - 2 * f - y
            if boxes and u < 0.15 and room > 6 * f:
                kind = boxes.pop(0)
                bh = int(min(room - f, max(5 * f, r.uniform(0.15, 0.3) * h)))
                if kind == "table":
                    d.rectangle([x0, y, x1, y + bh], outline=(40, 40, 40), width=max(1, f // 9))
                    nr, nc = max(2, bh // int(f * 1.8)), r.randint(3, 5)
                    for i in range(1, nr):
                        yy_ = y + bh * i // nr
                        d.line([(x0, yy_), (x1, yy_)], fill=(70, 70, 70), width=1)
                    for j in range(1, nc):
                        xx_ = x0 + (x1 - x0) * j // nc
                        d.line([(xx_, y), (xx_, y + bh)], fill=(70, 70, 70), width=1)
                    for i in range(nr):
                        for j in range(nc):
                            cx0 = x0 + (x1 - x0) * j // nc + f // 3
                            cx1 = x0 + (x1 - x0) * (j + 1) // nc - f // 3
                            cy = y + bh * i // nr + (bh // nr - int(f * 0.8)) // 2
                            text_line(cx0, cx1, cy, int(f * 0.8), ink[0], 1)
                else:
                    d.rectangle([x0, y, x1, y + bh], fill=(214, 226, 240), outline=(60, 80, 120), width=max(1, f // 8))
                    pts = [(x0 + (x1 - x0) * (k + 0.5) / 12, y + bh * (0.2 + 0.6 * r.random())) for k in range(12)]
                    d.line(pts, fill=(180, 40, 40), width=max(2, f // 5))
                    ex = x0 + int((x1 - x0) * 0.65)
                    d.ellipse([ex, y + bh // 5, ex + bh // 2, y + bh // 5 + bh // 2], fill=(240, 200, 90),
                              outline=(120, 90, 20))
                y += bh + f
                text_line(x0, x1, y, int(f * 0.8), ink[2], 1)  # caption
                y += int(f * 2.2)
                continue
            if u > 0.93:  # paragraph break / section heading
                y += f
                text_line(x0, int(x0 + cw * 0.5), y, int(f * 1.3), (15, 15, 15), max(2, f // 6), ragged=False)
                y += int(f * 2.1)
                continue
            text_line(x0 + (f if u < 0.2 else 0), x1, y, f, ink[r.randrange(3)], max(1, f // 9),
                      ragged=u > 0.8)
            y += int(f * 1.6)
    text_line(w // 2 - 3 * f, w // 2 + 3 * f, h - my, f, (60, 60, 60), 1, ragged=False)  # page number
    return img


def official_grid(w, h):
    """Tile grid (cols, rows) by OCR2.md's rule (the official dynamic_preprocess with 768 tiles, 2..6 crops)."""
    if w <= TILE and h <= TILE:
        return (1, 1)
    grids = [(1, 2), (2, 1), (3, 1), (1, 3), (4, 1), (1, 4), (2, 2), (1, 5), (5, 1), (6, 1), (2, 3), (1, 6), (3, 2)]
    ar, best, best_diff = w / h, (1, 1), float("inf")
    for c, r in grids:
        diff = abs(ar - c / r)
        if diff < best_diff:
            best, best_diff = (c, r), diff
        elif diff == best_diff and w * h > 0.5 * TILE * TILE * c * r:
            best = (c, r)
    return best


def u8_of(v):
    """[3,H,W] normalised float -> [H,W,3] uint8 (round((v*0.5+0.5)*255))."""
    return torch.round((v.double() * 0.5 + 0.5) * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def normalise(u8):
    """[H,W,3] uint8 -> [3,H,W] float32 as ToTensor + Normalize(0.5, 0.5): ((x/255) - 0.5)/0.5 in float32."""
    x = torch.from_numpy(np.array(u8, dtype=np.uint8, copy=True)).permute(2, 0, 1).float()
    return ((x / 255.0) - 0.5) / 0.5


def save_png_exact(path, u8, ref):
    Image.fromarray(u8, "RGB").save(path)
    back = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(back, u8), path
    diff = (normalise(back) - ref).abs().max().item()
    assert diff == 0.0, f"{path}: re-normalised PNG differs from the processor's tensor by {diff}"


def preprocess_fresh(name, w, h, seed, out):
    """Synthesise the page, run transformers' PIL processor, save page and views as PNG; return the tensors."""
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import (
        DeepseekOcr2ImageProcessorPil, get_optimal_tiled_canvas)
    img = make_page(w, h, seed)
    assert img.size == (w, h)
    img.save(os.path.join(out, f"{name}.png"))
    img = Image.open(os.path.join(out, f"{name}.png")).convert("RGB")
    px = DeepseekOcr2ImageProcessorPil()(img, return_tensors="pt")
    k = int(px["num_local_patches"][0])
    grid = official_grid(w, h)
    if max(w, h) > TILE:
        hf_grid = get_optimal_tiled_canvas((h, w), (TILE, TILE), 2, 6)
        assert tuple(hf_grid) == grid, (name, hf_grid, grid)
    assert k == (grid[0] * grid[1] if grid != (1, 1) else 0), (name, k, grid)
    # global view: the pad must be even so that HF's floor and PIL's round-half-even agree
    short = round(min(w, h) * (BASE / max(w, h)))
    pad = BASE - short
    assert pad % 2 == 0, f"{name}: global pad {pad} is odd; pick another size"
    g = px["pixel_values"][0]
    assert g.dtype == torch.float32 and tuple(g.shape) == (3, BASE, BASE)
    g8 = u8_of(g)
    off = np.asarray(ImageOps.pad(img, (BASE, BASE), color=(127, 127, 127)))
    assert np.array_equal(g8, off), f"{name}: processor global view != ImageOps.pad"
    save_png_exact(os.path.join(out, f"{name}.global.png"), g8, g)
    tiles = px.get("pixel_values_local")
    if k:
        assert tuple(tiles.shape) == (k, 3, TILE, TILE), tiles.shape
        cols, rows = grid
        big = img.resize((TILE * cols, TILE * rows), Image.Resampling.BICUBIC)
        for i in range(k):
            t8 = u8_of(tiles[i])
            r_, c_ = divmod(i, cols)
            off = np.asarray(big.crop((c_ * TILE, r_ * TILE, (c_ + 1) * TILE, (r_ + 1) * TILE)))
            assert np.array_equal(t8, off), f"{name}: processor tile {i} != official resize+crop"
            save_png_exact(os.path.join(out, f"{name}.tile{i}.png"), t8, tiles[i])
    else:
        assert tiles is None
    return dict(pixel_values=px["pixel_values"], pixel_values_local=tiles,
                num_local_patches=px["num_local_patches"]), grid, pad


def preprocess_stored(name, w, h, out):
    """Inputs rebuilt from the stored views (bit-identical to the processor's tensors of the first pass)."""
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil
    grid = official_grid(w, h)
    k = grid[0] * grid[1] if grid != (1, 1) else 0
    g = normalise(np.asarray(Image.open(os.path.join(out, f"{name}.global.png")).convert("RGB")))[None]
    tiles = None
    if k:
        tiles = torch.stack([normalise(np.asarray(Image.open(os.path.join(out, f"{name}.tile{i}.png")).convert("RGB")))
                             for i in range(k)])
    # this machine's processor on the stored page: should agree (it may not with another Pillow version)
    px = DeepseekOcr2ImageProcessorPil()(Image.open(os.path.join(out, f"{name}.png")).convert("RGB"), return_tensors="pt")
    same = torch.equal(px["pixel_values"], g) and int(px["num_local_patches"][0]) == k and \
        (tiles is None or torch.equal(px["pixel_values_local"], tiles))
    print(f"  {name}: stored views {'match' if same else 'DIFFER from'} this machine's processor output", flush=True)
    return dict(pixel_values=g, pixel_values_local=tiles, num_local_patches=torch.tensor([k])), grid, \
        BASE - round(min(w, h) * (BASE / max(w, h)))


# ----------------------------------------------------------------------------------------------------------------
# Running the oracle
# ----------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def run_case(model, inputs, ids, steps, device):
    """One forward with pixel values (records the vision stages by hooks), then greedy decoding with the cache."""
    vt = model.model.vision_tower
    sams, encs = [], []
    hooks = [vt.sam_encoder.register_forward_hook(lambda m, a, o: sams.append(o.last_hidden_state.detach())),
             vt.register_forward_hook(lambda m, a, o: encs.append(o.last_hidden_state.detach()))]
    kw = {k: (v.to(device) if v is not None else None) for k, v in inputs.items()}
    t0 = time.time()
    try:
        out = model(input_ids=ids[None].to(device), use_cache=True, logits_to_keep=1, **kw)
    finally:
        for hk in hooks:
            hk.remove()
    t_prefill = time.time() - t0
    k = int(inputs["num_local_patches"][0])
    assert len(sams) == (2 if k else 1) and len(encs) == len(sams)  # global view first, then all tiles at once
    rec = {"global.sam": sams[0], "global.encoder": encs[0]}
    if k:
        rec["tiles.sam"], rec["tiles.encoder"] = sams[1][:1], encs[1][:1]
    feats = out.image_hidden_states  # = torch.cat(get_image_features(...).pooler_output)
    rec["image_features"] = feats
    # layout check: [tile_0 .. tile_{k-1} (144 each) | global (256) | view separator]
    proj = model.model.multi_modal_projector
    n = feats.shape[0]
    assert n == 256 + 144 * k + 1, (n, k)
    assert torch.equal(feats[-1], model.model.view_separator), "last image row is not the view separator"
    layout_ok = torch.allclose(feats[144 * k:144 * k + 256], proj(encs[0][0]), rtol=0, atol=1e-5)
    if k:
        layout_ok &= torch.allclose(feats[:144], proj(encs[1][0]), rtol=0, atol=1e-5)
        layout_ok &= torch.allclose(feats[144 * (k - 1):144 * k], proj(encs[1][k - 1]), rtol=0, atol=1e-5)
    assert layout_ok, "image feature layout differs from tiles, global, separator"
    logits = out.logits[0, -1].float()
    rec["prompt_logits"] = logits
    cache = out.past_key_values
    toks, margins = [], []
    t0 = time.time()
    for s in range(steps):
        top = torch.topk(logits, 2)
        tok = int(top.indices[0])
        toks.append(tok)
        margins.append(float(top.values[0] - top.values[1]))
        if s + 1 == steps:
            break
        out = model(input_ids=torch.tensor([[tok]], device=device), past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        logits = out.logits[0, -1].float()
    t_decode = time.time() - t0
    assert cache.get_seq_length() == ids.shape[0] + steps - 1
    rec["greedy_ids"] = torch.tensor(toks, dtype=torch.int64)
    rec["greedy_top2_margin"] = torch.tensor(margins, dtype=torch.float32)
    return rec, t_prefill, t_decode


def n_params_of(n_layers):
    m = instantiate(n_layers, "meta")
    return sum(p.numel() for p in m.parameters())


def mem_available_gb():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2 ** 20
    except OSError:
        return None
    return None


@torch.no_grad()
def check_against_v1_checksums(model, shared):
    """The decoder's names are v1's: compare a few tensors with v1's published checksums, when present."""
    path = os.path.join(shared, "reference", "goldens", "weights_checksums.json")
    if not os.path.exists(path):
        return "v1 checksums not found"
    ref = json.load(open(path))
    params = dict(model.named_parameters())
    done = []
    for orig, hf in (("model.embed_tokens.weight", "model.language_model.embed_tokens.weight"),
                     ("lm_head.weight", "lm_head.weight"), ("model.norm.weight", "model.language_model.norm.weight"),
                     ("model.layers.1.mlp.gate.weight", "model.language_model.layers.1.mlp.gate.weight"),
                     ("model.sam_model.pos_embed", "model.vision_tower.sam_encoder.pos_embed")):
        t = params[hf].detach().double()
        c = ref[orig]
        assert t.flatten()[:8].tolist() == c["first"], orig
        assert abs(t.sum().item() - c["sum"]) <= 1e-9 * c["abs_sum"], orig
        assert abs(t.abs().sum().item() - c["abs_sum"]) <= 1e-9 * c["abs_sum"], orig
        done.append(orig)
    return f"{len(done)} tensors match v1's weights_checksums.json"


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="ci,full", help="comma list of ci,full (decoder 2 or 12 layers)")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "goldens_ocr2"))
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--cases", default="", help="comma list of case names (default: all)")
    ap.add_argument("--mmap-weights", metavar="DIR", default="",
                    help="CPU: keep the weights in a file-backed mapping in DIR (needs 4 bytes a parameter of disk: "
                         "13.6 GB for full), so the 12-layer model runs with less free RAM than its size")
    ap.add_argument("--force", action="store_true", help="skip the free-memory check on CPU")
    ap.add_argument("--redo-vision", action="store_true",
                    help="re-synthesise pages and rewrite the vision tensors even if the files have them")
    a = ap.parse_args()
    variants = [v for v in a.variants.split(",") if v]
    assert variants and all(v in DECODER_LAYERS for v in variants), a.variants
    cases = {n: c for n, c in CASES.items() if not a.cases or n in a.cases.split(",")}

    import transformers
    import PIL
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import synthetic_weights as sw  # noqa: E402  (shared reference material: the weight formula)

    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    dev = a.device
    os.makedirs(a.out, exist_ok=True)
    T0 = time.time()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, Pillow {PIL.__version__}, "
          f"device {dev}, out {a.out}", flush=True)

    manifest = json.load(open(os.path.join(a.shared, "model", "tensors_ocr2.json")))
    tensors = manifest["tensors"]
    assert len(tensors) == manifest["tensor_count"] == 2707
    assert sum(math.prod(s) for s in tensors.values()) == manifest["total_params"] == N_PARAMS_FULL
    plan = weight_plan(tensors)
    meta_model = instantiate(12, "meta")
    n_full = sum(p.numel() for p in meta_model.parameters())
    n_cov = check_plan(meta_model, plan, 12)
    assert n_full == N_PARAMS_FULL, n_full
    print(f"full model (meta): {n_full:,} parameters in {n_cov} tensors (= {N_PARAMS_FULL:,}); all covered by "
          f"the {len(tensors)} original tensors via the renames", flush=True)
    del meta_model

    tok = Tokenizer.from_file(os.path.join(a.shared, "model", "tokenizer.json"))
    assert tok.token_to_id("<image>") == IMAGE_TOKEN and tok.token_to_id("<|grounding|>") == GROUNDING_TOKEN
    tail = tok.encode(PROMPT_TAIL, add_special_tokens=False).ids
    assert GROUNDING_TOKEN in tail and tok.encode("<|grounding|>", add_special_tokens=False).ids == [GROUNDING_TOKEN]
    print(f"prompt tail {PROMPT_TAIL!r} -> {tail}", flush=True)

    # self-test of the blockwise generation: bit-exact against the formula in one piece
    for name, shape in (("model.layers.0.mlp.gate_proj.weight", [6848, 1280]),
                        ("model.sam_model.neck.2.weight", [256, 256, 3, 3])):
        whole = sw.synthetic_tensor(name, shape, dev)
        blocks = torch.empty(shape, device=dev)
        fill_synthetic(sw, blocks, name, shape, dev, chunk=100_000)
        assert torch.equal(whole, blocks), f"blockwise synthetic weights differ for {name}"
        del whole, blocks

    meta_path = os.path.join(a.out, "goldens.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    meta.update({"oracle": "transformers DeepseekOcr2ForConditionalGeneration (eager attention, eager experts)",
                 "dtype": "float32", "steps": a.steps, "decoder_layers": DECODER_LAYERS, "prompt": PROMPT,
                 "prompt_tail_ids": tail, "image_token_id": IMAGE_TOKEN})
    meta.setdefault("device", {})
    meta.setdefault("runs", {})
    meta.setdefault("cases", {})

    # ---- inputs per case ----
    inputs, recs, fresh = {}, {}, {}
    for name, (w, h, seed) in cases.items():
        path = os.path.join(a.out, f"{name}.safetensors")
        old = load_file(path) if os.path.exists(path) else {}
        fresh[name] = a.redo_vision or "image_features" not in old
        if fresh[name]:
            old = {}
            px, grid, pad = preprocess_fresh(name, w, h, seed, a.out)
        else:
            px, grid, pad = preprocess_stored(name, w, h, a.out)
        k = int(px["num_local_patches"][0])
        n_img = 256 + 144 * k + 1
        ids = torch.tensor([0] + [IMAGE_TOKEN] * n_img + tail, dtype=torch.int64)
        if "input_ids" in old:
            assert torch.equal(old["input_ids"], ids), f"{name}: stored input_ids differ"
        inputs[name], recs[name] = (px, ids), old
        recs[name]["input_ids"] = ids
        c = meta["cases"].setdefault(name, {})
        c.update({"page_size": [w, h], "tile_grid_wh": list(grid), "n_tiles": k, "n_image_tokens": n_img,
                  "global_pad": pad, "prompt": PROMPT, "input_length": int(ids.shape[0])})
        print(f"{name}: page {w}x{h}, grid {grid[0]}x{grid[1]}, {k} tiles, {n_img} image tokens, "
              f"global pad {pad}, prompt {ids.shape[0]} tokens ({'fresh' if fresh[name] else 'stored views'})",
              flush=True)

    # ---- decoder variants (the vision part is the same model part in both) ----
    vision_done = set()
    for v in variants:
        layers = DECODER_LAYERS[v]
        t0 = time.time()
        if dev == "cpu" and not a.force:
            # weights (unless mapped from a file) + vision activations (6 tiles at once) + slack
            need = (0 if a.mmap_weights else 4 * n_params_of(layers) / 2 ** 30) + 7.0
            avail = mem_available_gb()
            if avail is not None and avail < need:
                raise SystemExit(f"[{v}] needs about {need:.0f} GB of RAM, {avail:.1f} GB available: run this variant "
                                 f"on a bigger machine (e.g. --device cuda), use --mmap-weights, or pass --force")
        model = instantiate(layers, dev)
        if a.mmap_weights:
            assert dev == "cpu", "--mmap-weights is for CPU runs"
            wpath = os.path.join(a.mmap_weights, f"synthetic_ocr2_{v}.f32")
            n = load_synthetic_mmap(model, plan, layers, sw, wpath)
        else:
            n = load_synthetic(model, plan, layers, sw, dev)
        n_params = sum(p.numel() for p in model.parameters())
        t_load = time.time() - t0
        print(f"[{v}] {layers} decoder layers, {n} tensors, {n_params:,} parameters, synthetic weights loaded in "
              f"{t_load:.1f}s (peak RSS {peak_rss_gb():.1f} GB); {check_against_v1_checksums(model, a.shared)}",
              flush=True)
        run = {"device": dev, "torch": torch.__version__, "transformers": transformers.__version__,
               "pillow": PIL.__version__, "n_params": n_params, "load_s": round(t_load, 1), "cases": {}}
        if dev.startswith("cuda"):
            run["gpu"] = torch.cuda.get_device_name()
        for name in cases:
            px, ids = inputs[name]
            rec, t_prefill, t_decode = run_case(model, px, ids, a.steps, dev)
            rec = {k_: (t.detach().cpu().contiguous() if t.dtype == torch.int64 else t.detach().float().cpu().contiguous())
                   for k_, t in rec.items()}
            r = recs[name]
            vision_keys = [k_ for k_ in ("global.sam", "global.encoder", "tiles.sam", "tiles.encoder", "image_features")
                           if k_ in rec]
            if fresh[name] and name not in vision_done:
                for k_ in vision_keys:
                    r[k_] = rec[k_]
                vision_done.add(name)
                meta["device"]["vision"] = dev
                meta["runs"]["vision"] = {"device": dev, "torch": torch.__version__,
                                          "transformers": transformers.__version__, "pillow": PIL.__version__}
            cmp = {}
            for k_ in vision_keys:  # fresh values against what the files keep (first pass / another machine)
                ref = r[k_]
                cmp[k_] = float((rec[k_] - ref).abs().max() / ref.abs().max().clamp_min(1e-30))
            for k_ in ("prompt_logits", "greedy_ids", "greedy_top2_margin"):
                r[f"{v}.{k_}"] = rec[k_]
            ids_list = rec["greedy_ids"].tolist()
            mm = float(rec["greedy_top2_margin"].min())
            c = meta["cases"][name]
            c[f"{v}.greedy_ids"] = ids_list
            c[f"{v}.min_top2_margin"] = round(mm, 6)
            run["cases"][name] = {"prefill_s": round(t_prefill, 2), "decode_s": round(t_decode, 2),
                                  "vision_max_rel_diff_vs_stored": cmp}
            pl = rec["prompt_logits"]
            print(f"[{v}] {name}: prefill {t_prefill:.1f}s, {a.steps} greedy steps {t_decode:.1f}s; ids {ids_list[:12]}"
                  f"...; min top-2 margin {mm:.4f}; prompt logits std {float(pl.std()):.3f}; vision vs stored "
                  f"(max rel) {max(cmp.values()) if cmp else 0:.2e}; peak RSS {peak_rss_gb():.1f} GB", flush=True)
            save_file(r, os.path.join(a.out, f"{name}.safetensors"))
            c["tensors"] = {k_: list(t.shape) for k_, t in sorted(r.items())}
            json.dump(meta, open(meta_path, "w"), indent=1)
        meta["device"][v] = dev
        meta["runs"][v] = run
        json.dump(meta, open(meta_path, "w"), indent=1)
        del model
        if a.mmap_weights:
            os.remove(wpath)
        if dev.startswith("cuda"):
            torch.cuda.empty_cache()
    json.dump(meta, open(meta_path, "w"), indent=1)
    print(f"done in {time.time() - T0:.1f}s, peak RSS {peak_rss_gb():.1f} GB", flush=True)


if __name__ == "__main__":
    main()
