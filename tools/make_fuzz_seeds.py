#!/usr/bin/env python3
"""Seed corpora for the libFuzzer harnesses (tests/fuzz/corpus/<harness>/): small valid inputs of every kind plus
the bad-input corpus's matching files. Run again after changing a seed; the harnesses find the rest."""
import base64
import io
import json
import os
import shutil
import struct
import sys

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
BAD = os.path.join(ROOT, "tests", "data", "bad")


def put(harness, name, data):
    os.makedirs(os.path.join(OUT, harness), exist_ok=True)
    with open(os.path.join(OUT, harness, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy_bad(harness, suffixes):
    for name in sorted(os.listdir(BAD)):
        if name.endswith(suffixes):
            shutil.copy(os.path.join(BAD, name), os.path.join(OUT, harness, name))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # safetensors headers
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "a": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}).encode()
    put("safetensors_header", "valid.safetensors", struct.pack("<Q", len(header)) + header + bytes(12))
    copy_bad("safetensors_header", (".safetensors",))
    # config.json of both families (the published ones and the miniature test configs)
    for path in [os.path.join(SHARED, "model", "config.json"), os.path.join(SHARED, "model", "ocr2_config.json"),
                 os.path.join(ROOT, "tests", "data", "mini_config.json"),
                 os.path.join(ROOT, "tests", "data", "mini_ocr2_config.json")]:
        put("config", os.path.basename(path), open(path, "rb").read())
    copy_bad("config", ("config_truncated.json", "config_model_type_number.json"))
    # tokenizer: prompts, model text, mixed scripts
    samples = os.path.join(SHARED, "model", "sample_outputs")
    texts = ["<image>\n<|grounding|>Convert the document to markdown.", "Free OCR.", "日本語のテキスト 123",
             "emoji 📄 and tabs\t\r\n", b"\xff\xfe invalid utf-8 \xc3"]
    for i, text in enumerate(texts):
        put("tokenizer", f"text{i}", text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
    # grounding: the recorded answers, behind a piece-length byte
    for name in sorted(os.listdir(samples)):
        if name.endswith(".txt"):
            text = open(os.path.join(samples, name), "rb").read()
            put("grounding", name, bytes([7]) + text[:3000])
            put("tokenizer", name, text[:1500])
    # images of every format the decode path reads, and the bad ones
    img = Image.new("RGB", (24, 16), (240, 238, 230))
    for x in range(2, 20):
        img.putpixel((x, 8), (10, 10, 10))
    for fmt, ext in [("PNG", "png"), ("JPEG", "jpg"), ("TIFF", "tif"), ("WEBP", "webp"), ("BMP", "bmp"),
                     ("PPM", "ppm")]:
        out = io.BytesIO()
        img.save(out, fmt)
        put("image_decode", "small." + ext, out.getvalue())
    out = io.BytesIO()
    img.convert("RGBA").save(out, "PNG")
    put("image_decode", "alpha.png", out.getvalue())
    copy_bad("image_decode", (".png", ".jpg", ".bmp", ".ppm", ".tif", ".webp"))  # the fuzzers' finds among them
    # project.json: a small valid project, with and without a journal (after a NUL byte)
    project = {"format": 1, "sequence": 3, "documents": [{"path": "scan.pdf", "sha256": "ab" * 32, "size": 1234}],
               "pages": [{"source": "scan.pdf", "source_page": 0, "status": "done", "raw_text": "<|ref|>title<|/ref|>",
                          "markdown": "# Title\n\nText", "regions": [{"label": "title", "begin": 0, "end": 7,
                                                                       "boxes": [[10, 10, 200, 40]]}],
                          "width": 1240, "height": 1754, "dpi": 144, "edited": False, "mode": 4}]}
    text = json.dumps(project).encode()
    put("project", "project.json", text)
    journal = json.dumps({"sequence": 4, "op": "page", "index": 0, "page": project["pages"][0]}).encode()
    put("project", "project_and_journal", text + b"\0" + journal + b"\n")
    copy_bad("project", ("project_half_written.json", "project_wrong_types.json", "project_region_past_text.json"))
    put("tokenizer", "overlong_utf8", b"emoji\xe0\x9f\x93\t\x14" + bytes(7) + b"\rz\n")  # a harness find
    # chat requests (as Folio's client writes them, and broken ones) and event streams, behind a cut byte
    png = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 100, 50)).save(png, "PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    request = {"model": "deepseek-ai/DeepSeek-OCR", "temperature": 0, "max_tokens": 1000, "stream": True,
               "stream_options": {"include_usage": True}, "skip_special_tokens": False, "folio_mode": "base",
               "vllm_xargs": {"ngram_size": 20, "window_size": 50, "whitelist_token_ids": [128821, 128822]},
               "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                         {"type": "text", "text": "<|grounding|>Convert the document to markdown."}]}]}
    put("chat_request", "request.json", bytes([128]) + json.dumps(request).encode())
    request["messages"][0]["content"][1]["text"] = "Locate <|ref|>the title<|/ref|> in the image."
    put("chat_request", "locate.json", bytes([3]) + json.dumps(request).encode())
    put("chat_request", "truncated.json", bytes([9]) + json.dumps(request).encode()[:90])
    chunk = {"choices": [{"index": 0, "delta": {"content": "<|ref|>title<|/ref|>"}, "finish_reason": None}]}
    stream = (": keep-alive\r\n\r\ndata: " + json.dumps(chunk) + "\n\nevent: x\ndata: a\ndata: b\nid: 3\n\n"
              'data: {"choices": [], "usage": {"prompt_tokens": 273, "completion_tokens": 4}}\r\rdata: [DONE]\n\n')
    put("chat_request", "stream", bytes([77]) + stream.encode())
    put("chat_request", "error", bytes([0]) + b'{"error": {"message": "too big", "type": "invalid_request_error"}}')
    # page ranges: two bytes of page count, then the text
    for i, text in enumerate(["1-3,5", "10-", "7", " 2 - 4 , 9", "0", "3-1", "1-99999999999", ""]):
        put("page_range", f"range{i}", struct.pack(">H", 12) + text.encode())


if __name__ == "__main__":
    main()
