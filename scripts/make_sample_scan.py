#!/usr/bin/env python3
"""Render a realistic scanned page whose content matches a recorded DeepSeek-OCR grounding output.

Each `<|ref|>LABEL<|/ref|><|det|>[[x1, y1, x2, y2], ...]<|/det|>` region of the sample is typeset inside its
box (boxes are 0-999, normalised to the page), so the model's boxes drawn over the image line up with the
text.  The clean page is then aged like a flatbed scan: paper tone, skew, blur, noise, edge shadow, JPEG.

  python3 scripts/make_sample_scan.py --sample paper_page.txt --out page.png [--size 1240x1754] [--seed N]
  python3 scripts/make_sample_scan.py --sample a.txt --sample b.txt --pdf scan.pdf   (image-only PDF)
  --overlay boxes.png   also write a copy with the sample's boxes drawn in colour (to check alignment)

Pillow + numpy only.  Output is deterministic for a given sample, size and seed.
"""
import argparse
import glob
import io
import math
import os
import re
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# ----------------------------------------------------------------------------------------------- fonts

# Candidates per style, best first.  Liberation is metric-compatible with Times/Arial (the usual paper
# look); DejaVu covers the maths symbols Liberation lacks; the CJK fonts come last as glyph fallback.
FONT_DIRS = "/usr/share/fonts"
CANDIDATES = {
    "serif": ["LiberationSerif-Regular.ttf", "NimbusRoman-Regular.otf", "DejaVuSerif.ttf"],
    "serif_bold": ["LiberationSerif-Bold.ttf", "NimbusRoman-Bold.otf", "DejaVuSerif-Bold.ttf"],
    "serif_italic": ["LiberationSerif-Italic.ttf", "NimbusRoman-Italic.otf", "DejaVuSerif-Italic.ttf"],
    "sans": ["LiberationSans-Regular.ttf", "NimbusSans-Regular.otf", "DejaVuSans.ttf"],
    "symbols": ["DejaVuSerif.ttf", "DejaVuSans.ttf"],
    "cjk": ["NotoSerifCJK-Regular.ttc", "NotoSansCJK-Regular.ttc", "wqy-microhei.ttc", "wqy-zenhei.ttc",
            "DroidSansFallbackFull.ttf", "DroidSansFallback.ttf"],
}
CJK_RE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


def find_font(names):
    for name in names:
        hits = sorted(glob.glob(os.path.join(FONT_DIRS, "**", name), recursive=True))
        if hits:
            return hits[0]
    return None


class Fonts:
    """Per-character font fallback: a run of text is split into pieces drawn with the first font that
    has a glyph for each character (Pillow has no fallback of its own)."""

    def __init__(self):
        self.paths = {k: find_font(v) for k, v in CANDIDATES.items()}
        if not self.paths["serif"]:
            sys.exit("no serif font found under /usr/share/fonts (apt-get install fonts-liberation2)")
        self._cache, self._has = {}, {}
        self.used = set()

    def font(self, path, size):
        key = (path, int(size))
        if key not in self._cache:
            self._cache[key] = ImageFont.truetype(path, max(4, int(size)))
        return self._cache[key]

    def has_glyph(self, path, ch):
        # A missing glyph renders as the font's .notdef box: compare against a certainly-unmapped code point.
        key = (path, ch)
        if key not in self._has:
            f = self.font(path, 32)
            notdef = f.getmask("\U0010FFFD")      # private use: mapped by no text font
            m = f.getmask(ch)
            same = m.size == notdef.size and bytes(m) == bytes(notdef)
            self._has[key] = not same and m.getbbox() is not None
        return self._has[key]

    def chain(self, style):
        """Fonts to try for `style`, with a flag saying whether bold must be faked with a stroke."""
        out = [(self.paths[style], False)]
        for extra in ("symbols", "cjk"):
            if self.paths.get(extra):
                out.append((self.paths[extra], style.endswith("bold")))
        return [(p, fb) for p, fb in out if p]

    def runs(self, text, style):
        """Split text into (path, fake_bold, piece) runs; whitespace stays with the run it is in."""
        chain, runs = self.chain(style), []
        for ch in text:
            pick = chain[0]
            if not ch.isspace():
                pick = next((c for c in chain if self.has_glyph(c[0], ch)), chain[0])
            elif runs:
                pick = runs[-1][:2]
            if runs and runs[-1][:2] == pick:
                runs[-1] = (pick[0], pick[1], runs[-1][2] + ch)
            else:
                runs.append((pick[0], pick[1], ch))
        return runs

    def width(self, text, style, size):
        return sum(self.font(p, size).getlength(s) for p, _, s in self.runs(text, style))

    def draw(self, d, x, y, text, style, size, fill=0):
        """Draw text with its baseline-left at (x, y); returns the advance."""
        for path, fake_bold, piece in self.runs(text, style):
            f = self.font(path, size)
            self.used.add(path)
            stroke = max(1, round(size / 45)) if fake_bold else 0
            d.text((x, y), piece, font=f, fill=fill, anchor="ls", stroke_width=stroke, stroke_fill=fill)
            x += f.getlength(piece)
        return x

    def ink_box(self, text, style, size):
        """(ascent, descent) of the inked glyphs relative to the baseline."""
        top, bottom = 0, 0
        for path, _, piece in self.runs(text, style):
            if piece.strip():
                _, t, _, b = self.font(path, size).getbbox(piece, anchor="ls")
                top, bottom = min(top, t), max(bottom, b)
        return -top, bottom


# ----------------------------------------------------------------------------------------------- parsing

REGION_RE = re.compile(r"<\|ref\|>(.*?)<\|/ref\|><\|det\|>(.*?)<\|/det\|>(.*?)(?=<\|ref\|>|<｜end▁of▁sentence｜>|\Z)",
                       re.S)


def parse_sample(text):
    """Complete regions only: a region cut off mid-tag (max tokens) has no closing det tag and is dropped."""
    regions = []
    for label, det, body in REGION_RE.findall(text):
        boxes = [tuple(int(v) for v in b) for b in re.findall(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\]", det)]
        if boxes:
            regions.append({"label": label.strip(), "boxes": boxes, "text": body.strip()})
    return regions


def strip_markdown(s):
    s = re.sub(r"^#+\s*", "", s.strip())
    s = re.sub(r"(\*\*|__|`)", "", s)
    s = re.sub(r"\\\((.*?)\\\)", lambda m: latex_to_plain(m.group(1)), s)
    return s.strip()


# ----------------------------------------------------------------------------------------------- maths

SYMBOLS = {
    "coloneqq": "≔", "eqqcolon": "≕", "times": "×", "cdot": "·", "leq": "≤", "le": "≤", "geq": "≥",
    "ge": "≥", "neq": "≠", "approx": "≈", "sim": "∼", "pm": "±", "infty": "∞", "sum": "∑", "prod": "∏",
    "int": "∫", "rightarrow": "→", "to": "→", "leftarrow": "←", "Rightarrow": "⇒", "in": "∈",
    "partial": "∂", "nabla": "∇", "ldots": "…", "cdots": "⋯", "propto": "∝", "mid": "|",
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
    "omega": "ω", "Delta": "Δ", "Sigma": "Σ", "Omega": "Ω", "{": "{", "}": "}", "%": "%",
}
FUNCTIONS = {"log", "ln", "exp", "sin", "cos", "tan", "max", "min", "lim", "arg", "det", "softmax"}
TEXT_CMDS = {"text", "mathrm", "textrm", "operatorname", "mathbf", "textbf", "mathit", "mathsf"}
RELATIONS = set("=<>≔≕≤≥≠≈∼∝→←⇒∈")
BINARY = set("+−×·±")
TOKEN_RE = re.compile(r"\\[A-Za-z]+|\\.|[{}^_]|\s+|.")


def latex_tokens(src):
    src = re.sub(r"^\s*(\\\[|\$\$|\\\(|\$)|(\\\]|\$\$|\\\)|\$)\s*$", "", src.strip())
    return [t for t in TOKEN_RE.findall(src) if not t.isspace()]


def parse_math(tokens, pos=0, stop=None):
    """Tiny recursive parser to a node list: ('sym', s, italic) | ('frac', a, b) | ('sqrt', a) |
    ('scripts', base, sub, sup).  Good enough for the display formulas in the samples."""
    nodes = []

    def group(p):
        if p < len(tokens) and tokens[p] == "{":
            return parse_math(tokens, p + 1, "}")
        return parse_math(tokens[p:p + 1], 0)[0], p + 1

    while pos < len(tokens) and tokens[pos] != stop:
        t = tokens[pos]
        pos += 1
        if t in ("^", "_"):
            arg, pos = group(pos)
            base = nodes.pop() if nodes else ("sym", "", False)
            if base[0] != "scripts":
                base = ("scripts", base, None, None)
            base = (base[0], base[1], arg if t == "_" else base[2], arg if t == "^" else base[3])
            nodes.append(base)
        elif t == "{":
            inner, pos = parse_math(tokens, pos, "}")
            nodes.extend(inner)
        elif t in ("\\frac", "\\dfrac", "\\tfrac"):
            a, pos = group(pos)
            b, pos = group(pos)
            nodes.append(("frac", a, b))
        elif t == "\\sqrt":
            a, pos = group(pos)
            nodes.append(("sqrt", a))
        elif t[1:] in TEXT_CMDS:
            end = pos
            if pos < len(tokens) and tokens[pos] == "{":   # keep the words of \text{...} upright, as written
                depth, end = 0, pos
                while end < len(tokens):
                    depth += tokens[end] == "{"
                    depth -= tokens[end] == "}"
                    end += 1
                    if depth == 0:
                        break
                nodes.append(("sym", "".join(tokens[pos + 1:end - 1]), False))
            pos = end
        elif t in ("\\left", "\\right", "\\displaystyle", "\\limits", "\\big", "\\Big"):
            continue
        elif t in ("\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\ ", "~"):
            nodes.append(("space", {"\\quad": 1.0, "\\qquad": 2.0}.get(t, 0.25)))
        elif t.startswith("\\"):
            name = t[1:]
            nodes.append(("sym", SYMBOLS.get(name, name), False))
        else:
            nodes.append(("sym", "−" if t == "-" else t, t.isalpha()))
    return nodes, pos + 1


def latex_to_plain(src):
    """One-line rendering (a/b for fractions) for inline maths in running text."""
    def flat(nodes):
        out = ""
        for n in nodes:
            if n[0] == "sym":
                out += n[1]
            elif n[0] == "frac":
                a, b = flat(n[1]), flat(n[2])
                out += (a if len(n[1]) < 2 else f"({a})") + "/" + (b if len(n[2]) < 2 else f"({b})")
            elif n[0] == "sqrt":
                out += "√(" + flat(n[1]) + ")"
            elif n[0] == "scripts":
                out += flat([n[1]]) + ("_" + flat(n[2]) if n[2] else "") + ("^" + flat(n[3]) if n[3] else "")
            elif n[0] == "space":
                out += " "
        return out
    return flat(parse_math(latex_tokens(src))[0])


class MathBox:
    """Laid-out formula: width, ascent, descent around a baseline, and draw ops relative to it."""

    def __init__(self):
        self.w, self.asc, self.desc, self.ops = 0.0, 0.0, 0.0, []

    def place(self, other, dx, dy):
        self.ops += [(op, x + dx, y + dy, *rest) for op, x, y, *rest in other.ops]
        self.asc = max(self.asc, other.asc - dy)
        self.desc = max(self.desc, other.desc + dy)


def layout_math(nodes, size, fonts):
    box = MathBox()
    for n in nodes:
        if n[0] == "sym":
            s, style = n[1], "serif_italic" if n[2] else "serif"
            if s in FUNCTIONS:
                style = "serif"
            pad = size * (0.28 if s in RELATIONS else 0.22 if s in BINARY else 0.0)
            part = MathBox()
            part.w = fonts.width(s, style, size) + 2 * pad
            part.asc, part.desc = fonts.ink_box(s, style, size)
            part.ops = [("text", pad, 0.0, s, style, size)]
            box.place(part, box.w, 0)
            box.w += part.w
        elif n[0] == "space":
            box.w += n[1] * size
        elif n[0] == "frac":
            small = size * 0.9
            a, b = layout_math(n[1], small, fonts), layout_math(n[2], small, fonts)
            axis, gap, rule = size * 0.27, size * 0.18, max(1.0, size / 18)
            w = max(a.w, b.w) + size * 0.3
            frac = MathBox()
            frac.place(a, (w - a.w) / 2, -(axis + gap + a.desc))
            frac.place(b, (w - b.w) / 2, -axis + gap + b.asc)
            frac.ops.append(("rule", 0.0, -axis, w, rule))
            frac.w = w
            pad = size * 0.12
            box.place(frac, box.w + pad, 0)
            box.w += w + 2 * pad
        elif n[0] == "sqrt":
            inner = layout_math(n[1], size, fonts)
            rad = MathBox()
            rad.w = fonts.width("√", "symbols", size)
            rad.asc, rad.desc = fonts.ink_box("√", "symbols", size)
            rad.ops = [("text", 0.0, 0.0, "√", "symbols", size)]
            rad.place(inner, rad.w, 0)
            rad.ops.append(("rule", rad.w, -inner.asc - size * 0.12, inner.w, max(1.0, size / 18)))
            rad.w += inner.w
            box.place(rad, box.w, 0)
            box.w += rad.w
        elif n[0] == "scripts":
            base = layout_math([n[1]], size, fonts)
            box.place(base, box.w, 0)
            x = box.w + base.w
            ends = [x]
            if n[2]:
                sub = layout_math(n[2], size * 0.7, fonts)
                box.place(sub, x + size * 0.03, size * 0.22)
                ends.append(x + sub.w)
            if n[3]:
                sup = layout_math(n[3], size * 0.7, fonts)
                box.place(sup, x + size * 0.05, -size * 0.42)
                ends.append(x + sup.w)
            box.w = max(ends) + size * 0.05
    return box


def draw_equation(d, fonts, src, rect, max_size):
    x1, y1, x2, y2 = rect
    nodes = parse_math(latex_tokens(src))[0]
    size = max_size
    while size > 6:      # shrink until the formula fits its box (layout is not linear in size)
        mb = layout_math(nodes, size, fonts)
        if mb.w <= (x2 - x1) * 0.98 and mb.asc + mb.desc <= (y2 - y1) * 0.96:
            break
        size -= 1
    ox = x1 + ((x2 - x1) - mb.w) / 2
    oy = y1 + ((y2 - y1) - (mb.asc + mb.desc)) / 2 + mb.asc
    for op in mb.ops:
        if op[0] == "text":
            _, x, y, s, style, sz = op
            fonts.draw(d, ox + x, oy + y, s, style, sz)
        else:
            _, x, y, w, t = op
            d.rectangle([ox + x, oy + y - t / 2, ox + x + w, oy + y + t / 2 - 1], fill=0)


# ----------------------------------------------------------------------------------------------- text

def tokenize(text):
    """Words for Latin text, single characters for CJK (which breaks anywhere); closing punctuation is
    glued to the token before it so no line starts with it.  Each token: (string, space_before)."""
    tokens = []
    for m in re.finditer(r"(\s*)([\u2e80-\u9fff\uf900-\ufaff]|[^\s\u2e80-\u9fff\uf900-\ufaff]+)", text):
        space, tok = bool(m.group(1)), m.group(2)
        if tokens and re.match(r"^[，。、：；！？）》」』,.;:!?)]", tok) and CJK_RE.search(tok[0]) and not space:
            tokens[-1] = (tokens[-1][0] + tok[0], tokens[-1][1])
            tok = tok[1:]
            if not tok:
                continue
        if tokens and not space and not CJK_RE.match(tok[0]) and not CJK_RE.match(tokens[-1][0][-1]):
            tokens[-1] = (tokens[-1][0] + tok, tokens[-1][1])
        else:
            tokens.append((tok, space))
    return tokens


def wrap(fonts, tokens, style, size, width):
    lines, cur, w = [], [], 0.0
    space = fonts.width(" ", style, size)
    for tok, sp in tokens:
        tw = fonts.width(tok, style, size)
        add = tw + (space if sp and cur else 0)
        if cur and w + add > width:
            lines.append(cur)
            cur, w, add = [], 0.0, tw
        cur.append((tok, sp, tw))
        w += add
    if cur:
        lines.append(cur)
    return lines


def draw_line(d, fonts, line, style, size, x, y, width, justify, fill=0):
    space = fonts.width(" ", style, size)
    natural = sum(tw for _, _, tw in line) + sum(space for i, (_, sp, _) in enumerate(line) if sp and i)
    gaps = [i for i in range(1, len(line)) if line[i][1]] or list(range(1, len(line)))
    extra = (width - natural) / len(gaps) if justify and gaps and natural > width * 0.8 else 0.0
    for i, (tok, sp, tw) in enumerate(line):
        if i:
            x += (space if sp else 0) + (extra if i in gaps else 0)
        fonts.draw(d, x, y, tok, style, size, fill)
        x += tw


def fit_paragraph(fonts, tokens, style, rects, max_size, min_size=8):
    """Largest size (≤ max_size) at which the text, wrapped to the narrowest box and shared evenly among
    the boxes (two columns of one paragraph), fits their height."""
    width = min(r[2] - r[0] for r in rects)
    height = min(r[3] - r[1] for r in rects)
    for size in range(int(max_size), min_size - 1, -1):
        lines = wrap(fonts, tokens, style, size, width)
        if math.ceil(len(lines) / len(rects)) * size * 1.2 <= height:
            return size, lines
    return min_size, wrap(fonts, tokens, style, min_size, width)


def draw_paragraph(d, fonts, text, style, rects, max_size, align="justify"):
    tokens = tokenize(text)
    if not tokens:
        return None
    size, lines = fit_paragraph(fonts, tokens, style, rects, max_size)
    per_box = math.ceil(len(lines) / len(rects))
    asc = fonts.font(fonts.paths[style], size).getmetrics()[0] * 0.92
    for k, r in enumerate(rects):
        chunk = lines[k * per_box:(k + 1) * per_box]
        if not chunk:
            break
        # Spread the lines over the box (the box is tight around the text), but never beyond 1.5 leading.
        lead = size * 1.2 if len(chunk) < 2 else min(size * 1.5, (r[3] - r[1] - asc * 1.25) / (len(chunk) - 1))
        lead = max(lead, size * 1.15)
        block = asc * 1.25 + lead * (len(chunk) - 1)
        # A lone line in a box about its height (a caption) is centred in it; otherwise type starts at the top.
        lone = len(chunk) == 1 and r[3] - r[1] < size * 2.5
        y = r[1] + asc + (max(0.0, (r[3] - r[1] - block) / 2) if lone else 0.0)
        for i, line in enumerate(chunk):
            last = (k * per_box + i) == len(lines) - 1
            width = r[2] - r[0]
            if align == "center":
                natural = fonts.width(" ".join(t for t, _, _ in line), style, size)
                draw_line(d, fonts, line, style, size, r[0] + (width - natural) / 2, y, width, False)
            else:
                draw_line(d, fonts, line, style, size, r[0], y, width, align == "justify" and not last)
            y += lead
    return size


LIST_RE = re.compile(r"^\s*([-*•+]|\d+[.)])\s+(.*)$")


def draw_list(d, fonts, items, rect, max_size):
    x1, y1, x2, y2 = rect
    n = len(items)
    size = int(max_size)
    while size > 8:
        indent = size * 1.6
        wrapped = [wrap(fonts, tokenize(it), "serif", size, x2 - x1 - indent) for _, it in items]
        if sum(len(w) for w in wrapped) * size * 1.2 + (n - 1) * size * 0.3 <= y2 - y1:
            break
        size -= 1
    total = sum(len(w) for w in wrapped)
    # Items are spaced evenly down the box, as a list with a little space between items would be.
    lead = size * 1.2
    gap = min(size * 0.9, max(0.0, (y2 - y1 - total * lead) / max(1, n - 1))) if n > 1 else 0
    asc = fonts.font(fonts.paths["serif"], size).getmetrics()[0] * 0.92
    y = y1 + asc
    for (marker, _), lines in zip(items, wrapped):
        mark = "•" if not marker[0].isdigit() else marker
        fonts.draw(d, x1 + size * 0.4, y, mark, "serif", size)
        for i, line in enumerate(lines):
            draw_line(d, fonts, line, "serif", size, x1 + indent, y, x2 - x1 - indent, i < len(lines) - 1)
            y += lead
        y += gap


def draw_single_line(d, fonts, text, style, rect, max_size, align):
    """One line sized to the box height (capped), shrunk to the width, vertically centred on its ink."""
    x1, y1, x2, y2 = rect
    size = int(min(max_size, (y2 - y1) * 0.95))
    while size > 6 and fonts.width(text, style, size) > (x2 - x1):
        size -= 1
    asc, desc = fonts.ink_box(text, style, size)
    cap = fonts.ink_box("H", style, size)[0]
    asc = max(asc, cap)
    y = y1 + ((y2 - y1) - (asc + desc)) / 2 + asc
    w = fonts.width(text, style, size)
    x = x1 + {"left": 0, "center": (x2 - x1 - w) / 2, "right": x2 - x1 - w}[align]
    fonts.draw(d, x, y, text, style, size)
    return size


# ----------------------------------------------------------------------------------------------- tables

def parse_table(html):
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = []
        for attrs, cell in re.findall(r"<t[dh]([^>]*)>(.*?)</t[dh]>", tr, re.S):
            span = re.search(r'colspan="?(\d+)', attrs)
            cells.append((strip_markdown(re.sub(r"<[^>]+>", "", cell)), int(span.group(1)) if span else 1))
        rows.append(cells)
    return [r for r in rows if r]


def draw_table(d, fonts, html, rect, max_size):
    rows = parse_table(html)
    if not rows:
        return
    x1, y1, x2, y2 = rect
    ncol = max(sum(s for _, s in r) for r in rows)
    row_h = (y2 - y1) / len(rows)
    size = int(min(max_size, row_h * 0.62))
    while size > 7:
        # Columns get width in proportion to their widest single-span cell, plus padding.
        need = [size * 1.2] * ncol
        for r in rows:
            c = 0
            for text, span in r:
                if span == 1:
                    need[c] = max(need[c], fonts.width(text, "serif_bold", size) + size * 1.2)
                c += span
        if sum(need) <= x2 - x1:
            break
        size -= 1
    scale = (x2 - x1) / sum(need)
    edges = [x1]
    for w in need:
        edges.append(edges[-1] + w * scale)
    edges[-1] = x2
    for i in range(len(rows) + 1):            # rules: heavier outside and under the header
        y = round(y1 + i * row_h)
        t = 2 if i in (0, 1, len(rows)) else 1
        d.rectangle([x1, y - t // 2, x2, y - t // 2 + t - 1], fill=20)
    for e in edges:
        e = round(e)
        t = 2 if e in (round(x1), round(x2)) else 1
        d.rectangle([e - t // 2, y1, e - t // 2 + t - 1, y2], fill=20)
    for i, r in enumerate(rows):
        c = 0
        style = "serif_bold" if i == 0 else "serif"
        for text, span in r:
            cx1, cx2 = edges[c], edges[min(ncol, c + span)]
            cell = (cx1 + size * 0.5, y1 + i * row_h, cx2 - size * 0.5, y1 + (i + 1) * row_h)
            draw_single_line(d, fonts, text, style, cell, size, "left" if c == 0 else "center")
            c += span


# ----------------------------------------------------------------------------------------------- figures

def draw_rotated_text(img, fonts, text, size, cx, cy):
    w = int(fonts.width(text, "sans", size)) + 4
    tile = Image.new("L", (w, int(size * 1.4)), 255)
    fonts.draw(ImageDraw.Draw(tile), 2, size * 1.05, text, "sans", size)
    tile = tile.rotate(90, expand=True)
    img.paste(tile, (int(cx - tile.width / 2), int(cy - tile.height / 2)),
              Image.eval(tile, lambda v: 255 - v))


def draw_figure(img, d, fonts, rect, rng, kind, body):
    """A plausible grey-tone chart filling the box: axes, ticks, grid, curves or bars, legend."""
    x1, y1, x2, y2 = rect
    fs = int(max(9, min(body * 0.8, (y2 - y1) * 0.065)))
    px1, px2 = x1 + fs * 4.2, x2 - fs * 0.6
    py1, py2 = y1 + fs * 0.6, y2 - fs * 3.0
    xs = np.arange(2, 21, 2) if kind == "line" else np.arange(1, 6)
    xmin, xmax = (0, 21) if kind == "line" else (0.4, 5.6)
    ymin, ymax = 40, 100

    def X(v):
        return px1 + (v - xmin) / (xmax - xmin) * (px2 - px1)

    def Y(v):
        return py2 - (v - ymin) / (ymax - ymin) * (py2 - py1)

    for v in range(ymin, ymax + 1, 10):        # dotted horizontal grid and y ticks
        for gx in np.arange(px1, px2, 6):
            d.line([gx, Y(v), min(gx + 2, px2), Y(v)], fill=190)
        d.line([px1 - fs * 0.35, Y(v), px1, Y(v)], fill=30, width=2)
        lab = str(v)
        fonts.draw(d, px1 - fs * 0.5 - fonts.width(lab, "sans", fs), Y(v) + fs * 0.35, lab, "sans", fs)
    ticks = xs if kind == "line" else xs
    labels = [str(v) for v in xs] if kind == "line" else ["Tiny", "Small", "Base", "Large", "Gundam"]
    for v, lab in zip(ticks, labels):
        d.line([X(v), py2, X(v), py2 + fs * 0.35], fill=30, width=2)
        fonts.draw(d, X(v) - fonts.width(lab, "sans", fs) / 2, py2 + fs * 1.4, lab, "sans", fs)
    d.line([px1, py1, px1, py2, px2, py2], fill=20, width=2)
    xlabel = "Compression ratio (×)" if kind == "line" else "Mode"
    fonts.draw(d, (px1 + px2) / 2 - fonts.width(xlabel, "sans", fs) / 2, y2 - fs * 0.4, xlabel, "sans", fs)
    draw_rotated_text(img, fonts, "Precision (%)", fs, x1 + fs * 0.8, (py1 + py2) / 2)

    if kind == "line":
        series = [("Ours", 30, "o"), ("Baseline", 130, "s")]
        for k, (name, tone, mark) in enumerate(series):
            # Falling sigmoid: near-lossless to ~10×, about 60 % at 20× (the paper's claim), baseline lower.
            mid, drop = (15.5, 40) if k == 0 else (11.5, 48)
            ys = 99 - drop / (1 + np.exp(-(xs - mid) / 2.2)) - k * 2 + rng.normal(0, 0.6, len(xs))
            pts = [(X(a), Y(b)) for a, b in zip(xs, ys)]
            if k == 0:
                d.line(pts, fill=tone, width=3, joint="curve")
            else:
                for (ax, ay), (bx, by) in zip(pts, pts[1:]):   # dashed
                    for t in np.arange(0, 1, 0.25):
                        d.line([ax + (bx - ax) * t, ay + (by - ay) * t,
                                ax + (bx - ax) * (t + 0.14), ay + (by - ay) * (t + 0.14)], fill=tone, width=3)
            r = fs * 0.32
            for x, y in pts:
                if mark == "o":
                    d.ellipse([x - r, y - r, x + r, y + r], fill=tone)
                else:
                    d.rectangle([x - r, y - r, x + r, y + r], fill=255, outline=tone, width=2)
    else:
        series = [("Ours", 60, None), ("Baseline", 170, None)]
        bw = (X(1) - X(0)) * 0.3
        for k, (name, tone, _) in enumerate(series):
            for v in xs:
                h = 62 + v * 6.5 - k * (6 + v) + rng.normal(0, 1.0)
                bx = X(v) + (k - 1) * bw
                d.rectangle([bx, Y(h), bx + bw, py2], fill=tone, outline=20)
    # Legend where the plot is empty: lower left under falling curves, upper left above rising bars.
    lx, ly = px1 + fs * 1.2, (py2 - fs * 3.6) if kind == "line" else (py1 + fs * 0.6)
    lw = fs * 1.8 + max(fonts.width(n, "sans", fs) for n, _, _ in series) + fs * 0.8
    d.rectangle([lx, ly, lx + lw, ly + fs * 3.0], fill=255, outline=90)
    for k, (name, tone, _) in enumerate(series):
        yy = ly + fs * (0.95 + 1.2 * k)
        d.line([lx + fs * 0.4, yy, lx + fs * 1.5, yy], fill=tone, width=3 if kind == "line" else fs // 2)
        fonts.draw(d, lx + fs * 1.8, yy + fs * 0.35, name, "sans", fs)


# ----------------------------------------------------------------------------------------------- page

def to_px(box, w, h, inset=0.0):
    """Box in pixels; `inset` (fraction of the page) keeps the type clear of the edges so the skew
    of the scan does not push it across the box."""
    x1, y1, x2, y2 = box
    dx, dy = inset * w, inset * h * 0.5
    return (x1 / 999 * w + dx, y1 / 999 * h + dy, x2 / 999 * w - dx, y2 / 999 * h - dy)


INSET = 0.004


def render_page(regions, size, fonts, rng):
    """Clean page: white background, ink as greys ('L' image)."""
    w, h = size
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    # Body size: what the longest paragraph needs to fill its box, capped near 13 pt at this resolution.
    cap = h * 0.0155
    body = cap
    paras = [r for r in regions if r["label"] == "text" and not LIST_RE.match(r["text"])]
    if paras:
        longest = max(paras, key=lambda r: len(r["text"]))
        rects = [to_px(b, w, h, INSET) for b in longest["boxes"]]
        body = fit_paragraph(fonts, tokenize(strip_markdown(longest["text"])), "serif", rects, cap)[0]
    figures = 0
    for r in regions:
        label, text = r["label"], r["text"]
        rects = [to_px(b, w, h, INSET) for b in r["boxes"]]
        centred = all(abs((b[0] + b[2]) / 2 - 499.5) < 25 for b in r["boxes"])
        if label in ("title", "sub_title"):
            # A title fills its box; a section heading stays near body size (its box is often loose).
            limit = h if label == "title" else body * 1.35
            for rect in rects:
                draw_single_line(d, fonts, strip_markdown(text), "serif_bold", rect, limit,
                                 "center" if centred and label == "title" else "left")
        elif label == "equation":
            for rect in rects:
                draw_equation(d, fonts, text, rect, int(body * 1.1))
        elif label == "image":
            for rect in rects:
                draw_figure(img, d, fonts, rect, rng, ("line", "bars")[figures % 2], body)
                figures += 1
        elif label in ("image_caption", "table_caption", "table_footnote"):
            for rect in rects:
                draw_paragraph(d, fonts, strip_markdown(text), "serif_italic", [rect], body * 0.95,
                               "center" if centred else "left")
        elif label == "table":
            for rect in rects:
                draw_table(d, fonts, text, rect, body)
        elif label == "page_number":
            for rect in rects:
                draw_single_line(d, fonts, strip_markdown(text), "serif", rect, body, "center")
        elif label == "text" and all(LIST_RE.match(l) for l in text.splitlines() if l.strip()):
            items = [LIST_RE.match(l).groups() for l in text.splitlines() if l.strip()]
            for rect in rects:
                draw_list(d, fonts, [(m, strip_markdown(t)) for m, t in items], rect, body)
        elif label == "text":
            plain = " ".join(strip_markdown(l) for l in text.splitlines())
            one_line = fonts.width(plain, "serif", body) <= min(r[2] - r[0] for r in rects)
            short_box = len(rects) == 1 and rects[0][3] - rects[0][1] <= body * 2.2
            if one_line and short_box:   # author line, short remark: as tall as its box allows
                draw_single_line(d, fonts, plain, "serif", rects[0], body * 1.2, "center" if centred else "left")
            else:
                draw_paragraph(d, fonts, plain, "serif", rects, body)
        else:   # header, footnote and labels the model may invent: small text
            plain = " ".join(strip_markdown(l) for l in text.splitlines())
            draw_paragraph(d, fonts, plain, "serif", rects, body * 0.85, "left")
    return img


# ----------------------------------------------------------------------------------------------- scan look

def smooth_field(rng, shape, cells, amp):
    """Low-frequency noise: a coarse random grid upsampled smoothly (paper cockle, uneven lighting)."""
    h, w = shape
    grid = rng.normal(0, 1, (cells[1], cells[0])).astype(np.float32)
    img = Image.fromarray(((grid - grid.min()) / (np.ptp(grid) + 1e-6) * 255).astype(np.uint8))
    up = np.asarray(img.resize((w, h), Image.BICUBIC), np.float32) / 255 - 0.5
    return up * 2 * amp


def scanify(page, rng):
    w, h = page.size
    # Skew and misplacement as the sheet lay on the glass.
    angle = rng.uniform(0.3, 0.6) * rng.choice([-1, 1])
    shift = tuple(int(v) for v in rng.integers(-3, 4, 2))
    page = page.rotate(angle, resample=Image.BICUBIC, translate=shift, fillcolor=255)
    # A few dust specks on the glass (they do not rotate with the sheet).
    d = ImageDraw.Draw(page)
    for _ in range(int(rng.integers(6, 16))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.6, 1.8)
        d.ellipse([x - r, y - r * rng.uniform(0.5, 1), x + r, y + r], fill=int(rng.uniform(100, 200)))
    cover = 1 - np.asarray(page, np.float32) / 255          # ink coverage 0..1
    # Toner density varies a little across the page.
    cover *= 0.96 + smooth_field(rng, (h, w), (5, 7), 0.05)
    # Off-white paper, slightly uneven, with fibre grain.
    base = np.array([241, 237, 226], np.float32) + rng.normal(0, 2, 3)
    light = 1 + smooth_field(rng, (h, w), (6, 8), 0.025) + rng.normal(0, 0.006, (h, w))
    paper = base[None, None, :] * light[..., None]
    # Faint shadow where the sheet lifts off the glass along one edge (binding side).
    edge = rng.choice(["left", "right"])
    dist = np.arange(w, dtype=np.float32) if edge == "left" else np.arange(w, dtype=np.float32)[::-1]
    paper *= (1 - 0.16 * np.exp(-dist / (w * 0.025)) - 0.05 * np.exp(-dist / (w * 0.12)))[None, :, None]
    ink = np.array([38, 36, 40], np.float32)
    rgb = paper * (1 - cover[..., None]) + ink * cover[..., None]
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.75))
    # Sensor noise: mostly luminance, a little per channel.
    arr = np.asarray(img, np.float32)
    arr += rng.normal(0, 2.2, (h, w, 1)) + rng.normal(0, 1.0, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    # The scanner's own JPEG stage: blocky softness in flat areas, ringing near glyphs.
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, subsampling=2)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def overlay(img, regions):
    out = img.copy()
    d = ImageDraw.Draw(out)
    colours = [(220, 30, 30), (30, 120, 220), (20, 160, 60), (200, 120, 0), (150, 40, 180)]
    for i, r in enumerate(regions):
        for b in r["boxes"]:
            d.rectangle(to_px(b, *img.size), outline=colours[i % len(colours)], width=2)
    return out


# ----------------------------------------------------------------------------------------------- main

def make(sample_path, size, seed, fonts, clean=False):
    with open(sample_path, encoding="utf-8") as f:
        regions = parse_sample(f.read())
    regions = [r for r in regions if r["text"] or r["label"] == "image"]
    if not regions:
        return None, None
    rng = np.random.default_rng(seed)
    page = render_page(regions, size, fonts, rng)
    return (page.convert("RGB") if clean else scanify(page, rng)), regions


def needs_cjk(path):
    with open(path, encoding="utf-8") as f:
        return bool(CJK_RE.search(re.sub(r"<｜end▁of▁sentence｜>", "", f.read())))


def save(img, path):
    if path.lower().endswith((".jpg", ".jpeg")):
        img.save(path, "JPEG", quality=85, subsampling=2, optimize=True)
    else:
        img.save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", action="append", required=True, help="model output file (repeat for --pdf)")
    ap.add_argument("--out", help="page image (.png or .jpg) for the first --sample")
    ap.add_argument("--pdf", help="multi-page image-only PDF of all --sample files")
    ap.add_argument("--overlay", help="also write the first page with the sample's boxes drawn on it")
    ap.add_argument("--size", default="1240x1754", help="WxH in pixels (default A4 at 150 dpi)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--clean", action="store_true", help="skip the scan effects (to check the layout)")
    ap.add_argument("--dpi", type=float, default=None, help="PDF resolution (default: width / 8.27 in)")
    a = ap.parse_args()
    if not (a.out or a.pdf):
        ap.error("give --out and/or --pdf")
    size = tuple(int(v) for v in a.size.lower().split("x"))
    fonts = Fonts()
    pages = []
    for i, sample in enumerate(a.sample):
        if needs_cjk(sample) and not fonts.paths["cjk"]:
            print(f"skip {sample}: no CJK font (apt-get install fonts-wqy-microhei)", file=sys.stderr)
            continue
        img, regions = make(sample, size, a.seed * 1000 + i, fonts, a.clean)
        if img is None:
            print(f"skip {sample}: no grounded regions with content", file=sys.stderr)
            continue
        pages.append(img)
        if i == 0 and a.out:
            save(img, a.out)
        if i == 0 and a.overlay:
            save(overlay(img, regions), a.overlay)
    if not pages:
        sys.exit("nothing rendered")
    if a.pdf:
        dpi = a.dpi or size[0] / 8.27
        stamp = time.gmtime(0)   # fixed dates: same input, same bytes
        pages[0].save(a.pdf, "PDF", save_all=True, append_images=pages[1:], resolution=dpi, quality=85,
                      creationDate=stamp, modDate=stamp, producer="Folio make_sample_scan")
    print("fonts used: " + ", ".join(sorted(os.path.basename(p) for p in fonts.used)), file=sys.stderr)


if __name__ == "__main__":
    main()
