"""Writes tests/data/ocr2_hf_native_tensors.json: the parameter names and shapes of transformers' own
DeepseekOcr2ForConditionalGeneration at the published DeepSeek-OCR-2 sizes (OCR2.md "Test oracle"), built on the
meta device (no weights, no download). Folio's rename table (inference/src/model_tensors.cpp, hfNativeName) is
tested against this list, which transformers made, not Folio.

Run: PYTHONPATH=<transformers 5.17 + torch> python3 tools/reference/hf_native_names.py [--out PATH]
"""
import argparse
import json
import math

import torch
import transformers
from transformers import DeepseekOcr2Config, DeepseekOcr2ForConditionalGeneration


def published_config():
    encoder = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                   num_key_value_heads=2, rms_norm_eps=1e-6,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e6}, vocab_size=1)
    text = dict(vocab_size=129280, hidden_size=1280, intermediate_size=6848, moe_intermediate_size=896,
                num_hidden_layers=12, num_attention_heads=10, num_key_value_heads=10, n_routed_experts=64,
                n_shared_experts=2, num_experts_per_tok=6, topk_method="greedy", n_group=1, topk_group=1,
                mlp_layer_types=["dense"] + ["sparse"] * 11, max_position_embeddings=8192, bos_token_id=0,
                eos_token_id=1)
    return DeepseekOcr2Config(image_token_id=128815, vision_config=dict(sam_config={}, encoder_config=encoder),
                              text_config=text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/data/ocr2_hf_native_tensors.json")
    args = parser.parse_args()
    with torch.device("meta"):
        model = DeepseekOcr2ForConditionalGeneration(published_config())
    names = {name: list(p.shape) for name, p in model.named_parameters()}
    out = {"_note": "Parameter names and shapes of transformers %s DeepseekOcr2ForConditionalGeneration built with "
                    "the published DeepSeek-OCR-2 sizes (OCR2.md 'Test oracle' config) on the meta device: the "
                    "HF-native checkpoint layout. Made by tools/reference/hf_native_names.py." % transformers.__version__,
           "count": len(names), "parameters": sum(math.prod(s) for s in names.values()), "tensors": names}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=0)
    print(len(names), "tensors,", out["parameters"], "parameters ->", args.out)


if __name__ == "__main__":
    main()
