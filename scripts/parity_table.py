#!/usr/bin/env python3
"""Markdown tables of `folio-cli parity --json` reports, as docs/parity.md shows them: per case the relative error
of every stage the goldens hold, the prompt logits' relative error and cosine, the greedy ids matched, and the
decoder alone on the golden image features. Usage: parity_table.py REPORT.json [REPORT.json ...]"""
import json
import sys

STAGES = ["global.sam", "global.clip", "global.encoder", "tiles.sam", "tiles.clip", "tiles.encoder",
          "image_features"]


def table(report):
    cases = report["cases"]
    stages = [s for s in STAGES if any(s in c["stages"] for c in cases)]
    head = ["case"] + stages + ["prompt_logits", "cosine", "greedy ids", "decoder alone: logits", "greedy ids"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        cells = [c["case"]]
        for s in stages:
            e = c["stages"].get(s)
            cells.append("—" if e is None else "missing" if e.get("missing") else f"{e['relative']:.1e}")
        logits, greedy = c["stages"]["prompt_logits"], c["greedy"]
        alone = c["decoder_on_golden_features"]
        cells += [f"{logits['relative']:.1e}", f"{logits['cosine']:.7f}",
                  f"{greedy['matching_steps']}/{greedy['comparable_steps']}",
                  f"{alone['prompt_logits']['relative']:.1e}",
                  f"{alone['greedy']['matching_steps']}/{alone['greedy']['comparable_steps']}"]
        lines.append("| " + " | ".join(cells) + " |")
    verdict = "all cases within tolerance" if report["ok"] else "FAILED"
    return (f"{report['device']}, {report['dtype']}, {report['config']} config: {verdict} "
            f"(greedy ids: matching / comparable steps, the latter up to the first near-tie)\n\n" + "\n".join(lines))


if __name__ == "__main__":
    print("\n\n".join(table(json.load(open(path))) for path in sys.argv[1:]))
