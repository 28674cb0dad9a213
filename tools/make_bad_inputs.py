#!/usr/bin/env python3
"""Writes tests/data/bad/: the corpus of broken, hostile and odd inputs that tests/app/test_bad_inputs.cpp opens
through the app core and folio-cli. Deterministic; run it again after adding a case (PIL, and pypdf for the
encrypted PDF). Kept small: the largest file is the 10 000-page PDF (about 1.2 MB)."""
import base64
import io
import json
import os
import struct
import sys
import zlib

from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bad")


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def pdf(pages, media_box="0 0 612 792", content=b"0.5 g 72 72 200 100 re f", extra_objects=()):
    """A plain PDF: one content stream shared by every page, a classic xref table."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", None,
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    kids = []
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Contents 3 0 R >>" % media_box.encode())
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages
    objects.extend(extra_objects)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for o in offsets:
        out.write(b"%010d 00000 n \n" % o)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def png_header_only(width, height):
    """A PNG whose IHDR claims width x height, followed by one tiny IDAT and IEND: decoders must refuse to
    allocate the claimed size."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def jpeg_claiming(width, height):
    """A real 16x16 JPEG (tables, scan) whose SOF0 is rewritten to claim width x height: a decoder reads a valid
    header and must refuse before it allocates."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 200, 200)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_claiming(width, height):
    """A real 4x4 BMP whose info header is rewritten to claim width x height (the pixel data stays 4x4)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 200, 200)).save(out, "BMP")
    data = bytearray(out.getvalue())
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def image_bytes(fmt, size=(200, 120)):
    img = Image.new("RGB", size, (240, 238, 230))
    for x in range(20, 180):
        img.putpixel((x, 60), (20, 20, 20))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def safetensors(header, data=b""):
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + data


def main():
    os.makedirs(OUT, exist_ok=True)
    good = pdf(2)
    png, jpg, tif = image_bytes("PNG"), image_bytes("JPEG"), image_bytes("TIFF")
    # PDFs
    write("empty.pdf", b"")
    write("truncated.pdf", good[: len(good) // 2])
    write("header_only.pdf", b"%PDF-1.7\n")
    write("garbage.pdf", bytes((i * 7919 + 13) % 251 for i in range(4096)))
    write("no_pages.pdf", pdf(0))
    start = good.rindex(b"startxref\n") + len(b"startxref\n")
    write("broken_xref.pdf", good[:start] + b"99999\n%%EOF\n")  # a reader rebuilds the table from the objects
    write("bad_content_stream.pdf", pdf(1, content=b"BT /NoSuchFont 12 Tf ( unterminated q Q Q Q ET 1 0 0 cm Do"))
    write("pages_10000.pdf", pdf(10000))
    write("page_200x200_inches.pdf", pdf(1, media_box="0 0 14400 14400"))
    write("page_zero_size.pdf", pdf(1, media_box="0 0 0 0"))
    write("png_named.pdf", png)
    encrypted = os.path.join(OUT, "encrypted_password.pdf")
    try:
        if os.path.exists(encrypted):  # pypdf's encryption is salted at random: kept once written
            raise ImportError
        import pypdf
        writer = pypdf.PdfWriter(clone_from=io.BytesIO(good))
        writer.encrypt(user_password="folio-secret", owner_password="folio-owner", algorithm="RC4-128")
        out = io.BytesIO()
        writer.write(out)
        write("encrypted_password.pdf", out.getvalue())
    except ImportError:
        print("encrypted_password.pdf kept as it is (delete it to make it again; needs pypdf)", file=sys.stderr)
    # Images
    write("empty.png", b"")
    write("empty.jpg", b"")
    write("truncated.png", png[: len(png) // 2])
    write("truncated.jpg", jpg[: len(jpg) // 3])
    write("truncated.tif", tif[: len(tif) // 2])
    write("huge_40000x40000.png", png_header_only(40000, 40000))
    write("huge_40000x40000.jpg", jpeg_claiming(40000, 40000))
    write("huge_40000x40000.bmp", bmp_claiming(40000, 40000))
    write("huge_40000x40000.ppm", b"P6\n40000 40000\n255\n" + b"\x80" * 300)
    write("zero_width.png", png_header_only(0, 100))
    write("text_named.png", b"This is a text file, not an image.\n" * 10)
    write("pdf_named.png", good)
    write("jpeg_named.png", jpg)
    write("garbage.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(range(64)))
    write("garbage.tif", b"II*\x00" + struct.pack("<I", 0xFFFFFF00) + bytes(32))
    # Model files and projects (opened by the model loader and the project readers)
    write("overlapping.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
         "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(24)))
    write("offsets_past_end.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, bytes(16)))
    write("header_too_long.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
    write("shape_mismatch.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}}, bytes(16)))
    write("not_json.safetensors", struct.pack("<Q", 8) + b"{not js}")
    write("config_truncated.json", b'{"architectures": ["DeepseekOCRForCausalLM"], "vision_config": {"wid')
    project = json.dumps({"format": 1, "name": "x", "pages": [{"source": "a.png", "status": "done"}] * 3}).encode()
    write("project_half_written.json", project[: len(project) // 2])
    write("project_wrong_types.json", json.dumps({"format": 1, "name": 7, "pages": "none"}).encode())
    # What the fuzzers found (tests/fuzz), kept as regressions: headers claiming 40000 x 18770 (BMP) and 21568 x 40000
    # (JPEG, frame header behind stray bytes that libjpeg skips) that decodeImage allocated; a 4-byte TIFF that the
    # size check read past; a PPM header that OpenCV reads differently (below); a project whose region ends past its
    # markdown.
    write("fuzz_bmp_claims_750mp.bmp", base64.b64decode("Qk1mAAAAAAAAADYAAAAoAAAAQJwAAFJJAAABABgAAAAAADD//////////8jIyMjIyMjI"))
    write("fuzz_jpeg_stray_bytes_862mp.jpg", base64.b64decode(
        "/9j/4AAQSkZJAAADAQMALzIyMjIyMjI0NDQ0NP/AABEInEBUQAMBIgACEQEDEQH/xAAfAAABBQEBAQEBAQAAAAAAAAAAAQIDBAUGBBEF"
        "VBIhMUEGE1FhByJxyOP4+fr/2gAMAwEAAhEDEQA/APSKKKKAP//Z"))
    write("fuzz_tiff_4_bytes.tif", b"II*\x00")
    # A WebP header libwebp refuses with "DICM" at byte 128, where OpenCV then hands it to GDCM, which aborted.
    write("fuzz_webp_with_dicom_signature.webp", base64.b64decode(
        "UklGRhAAAABXRUJQUE5NAAAAAAAAAAAuAAAAAAAAw8ODw8PDw8PDw8PDw8PDw8PDANj/KQAQSkZGskkAf9j/4AAQSkZGskkAAAMBAwAyMjI0"
        "B7T///////////////8BAAAAAAAAKP///////////////////3YvMQH///////9ESUNNAgAAAFKpAAAAAAAAAAAjAAA9Pj8="))
    # A PPM whose width runs into a comment: 4022 x 6 to a comment-aware reader, 4022 x 222222 (2.7 GB) to OpenCV.
    write("fuzz_ppm_comment_glued_to_width.ppm", base64.b64decode(
        "UDYKNDAyMiMyMjIyMjIKCTb/Bv//////MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAB4AMgnAwEiAAIRAQMRAf8AAQB/"
        "/fn8VlQBAQEBAAAAAAAx2QAAAAABAgMEBQb4+fr/2gAMAwEAAhEDEfbqKKIATVCA+wAAAA=="))
    write("config_model_type_number.json", b'{"model_type": 5}')  # found by fuzz_config: an uncaught type error
    write("project_region_past_text.json", json.dumps(
        {"version": 2, "pages": [{"source": "a.png", "status": "done", "markdown": "short", "dpi": -5,
                                  "source_page": -3, "regions": [{"label": "text", "begin": 2, "end": 900,
                                                                  "boxes": [[0, 0, 10, 10]]}]}]}).encode())
    write("document_truncated.json", b'{"schema": "folio-document", "pages": [{"page": 1, "markdown": "# Ti')


if __name__ == "__main__":
    main()
