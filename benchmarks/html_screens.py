"""Dose-report screens rendered by a browser from HTML: a check of the reader on screens it was not made for.

``drl_analysis.synthetic.screens`` draws screens with Pillow and FreeType in
the fonts matplotlib ships. This script writes the same ClarityIQ rows as an
HTML page and has headless Chromium take the screenshot: another rasteriser
(subpixel positions, other hinting), fonts of the system (Liberation, DejaVu;
install ``fonts-liberation`` for the former), numbers printed by its own
code (0-3 decimals per row, or a fixed count, or trailing zeros dropped;
thousands separators of the notation, spaces, thin spaces or none; times as
minutes, mm:ss, hh:mm:ss or seconds; every DAP unit), CSS rotation and blur,
noise and JPEG. It writes the images and ``ground_truth.csv``::

    python benchmarks/html_screens.py OUT_DIR [--n 60] [--seed 7]
    python benchmarks/bench_ocr.py --folder OUT_DIR

Needs Chromium (Debian package ``chromium``).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

LABELS = {
    "en": ["Total DAP", "Exposure Cumulative DAP", "Exposure Series", "Exposure Images", "Fluoroscopy Cumulative DAP",
           "Total Fluoroscopy Time", "Total Air Kerma (K)*", "Frontal Cumulative Air Kerma (K)",
           "Lateral Cumulative Air Kerma (K)"],
    "de": ["Gesamt-DFP", "Kumulatives DFP Aufnahme", "Aufnahmeserien", "Aufnahmebilder",
           "Kumulatives DFP Durchleuchtung", "Gesamte Durchleuchtungszeit", "Gesamt-Luftkerma (K)*",
           "Kumulative Luftkerma frontal (K)", "Kumulative Luftkerma lateral (K)"],
}
TITLE = {"en": "Dose Report ClarityIQ", "de": "Dosisbericht ClarityIQ"}
COLUMNS = ["dap_total_gycm2", "dap_exposure_gycm2", "exposure_series", "exposure_images", "dap_fluoro_gycm2",
           "fluoro_time_min", "air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy"]
FONTS = ["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "Liberation Sans", "Liberation Serif", "Liberation Mono"]
#: Printed DAP unit -> factor from Gy·cm².
DAP_UNITS = {"Gy·cm²": 1.0, "mGy·cm²": 1000.0, "cGy·cm²": 100.0, "µGy·m²": 100.0}


def _number(x: float, decimals: int, language: str, grouping: str) -> str:
    text = f"{x:,.{decimals}f}"
    point, group = (",", ".") if language == "de" else (".", ",")
    group = {"notation": group, "space": " ", "thin": "\u2009", "none": ""}[grouping]
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


def screen(rng: random.Random) -> tuple[str, dict, dict]:
    """A procedure's rows as printed: language, column -> (number, unit), column -> value in canonical units."""
    language = rng.choice(["en", "de"])
    grouping = rng.choice(["notation", "space", "thin", "none"])
    style, fixed = rng.choice(["fixed", "row", "trim"]), rng.randint(0, 3)
    printed, truth = {}, {}

    def put(column: str, x: float, factor: float, unit: str) -> None:
        decimals = fixed if style == "fixed" else rng.randint(0, 3) if style == "row" else rng.randint(1, 3)
        shown = round(x, decimals)
        text = _number(shown, decimals, language, grouping)
        point = "," if language == "de" else "."
        if style == "trim" and point in text:
            text = text.rstrip("0").rstrip(point)
        printed[column], truth[column] = (text, unit), shown / factor

    exposure = 0.0 if rng.random() < 0.07 else math.exp(rng.gauss(math.log(35), 1.0))
    fluoro = math.exp(rng.gauss(math.log(50), 1.0))
    unit = rng.choice(list(DAP_UNITS))
    for column, x in (("dap_total_gycm2", exposure + fluoro), ("dap_exposure_gycm2", exposure),
                      ("dap_fluoro_gycm2", fluoro)):
        put(column, x * DAP_UNITS[unit], DAP_UNITS[unit], unit)
    frontal = (exposure + fluoro) * math.exp(rng.gauss(math.log(6), 0.3))
    lateral = 0.0 if rng.random() < 0.4 else frontal * rng.uniform(0.2, 0.8)
    gray = frontal + lateral > 1500 and rng.random() < 0.3
    for column, x in (("air_kerma_total_mgy", frontal + lateral), ("air_kerma_frontal_mgy", frontal),
                      ("air_kerma_lateral_mgy", lateral)):
        put(column, x / 1000 if gray else x, 1e-3 if gray else 1.0, "Gy" if gray else "mGy")
    series = 0 if exposure == 0 else rng.randint(1, 60)
    images = series * rng.randint(2, 80)
    for column, n in (("exposure_series", series), ("exposure_images", images)):
        printed[column], truth[column] = (_number(n, 0, language, grouping), ""), float(n)
    seconds = int(math.exp(rng.gauss(math.log(700), 0.9))) + 5
    how = rng.choice(["min", "mmss", "hhmmss", "s"])
    if how == "min":
        decimals = rng.randint(0, 2)
        minutes = round(seconds / 60, decimals)
        printed["fluoro_time_min"], truth["fluoro_time_min"] = (_number(minutes, decimals, language, grouping),
                                                                "min"), minutes
    else:
        if how == "mmss":
            text = (f"{seconds // 60:02d}:{seconds % 60:02d}" if rng.random() < 0.5
                    else f"{seconds // 60}:{seconds % 60:02d}")
            unit = rng.choice(["mm:ss", "min", ""])
        elif how == "hhmmss":
            text, unit = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", rng.choice(
                ["hh:mm:ss", ""])
        else:
            text, unit = _number(seconds, 0, language, grouping), "s"
        printed["fluoro_time_min"], truth["fluoro_time_min"] = (text, unit), seconds / 60
    return language, printed, truth


def page(rng: random.Random, language: str, printed: dict) -> tuple[str, dict]:
    """The screen as an HTML page, and its style."""
    dark = rng.random() < 0.6
    background, ink = ("#101820", "#e8e8e8") if dark else ("#f4f4f0", "#202020")
    font, size = rng.choice(FONTS), rng.uniform(10, 26)
    attached = rng.random() < 0.3
    rows = []
    for column, label in zip(COLUMNS, LABELS[language]):
        number, unit = printed[column]
        cells = f"<td class=v>{number} {unit}</td>" if attached else f"<td class=v>{number}</td><td class=u>{unit}</td>"
        rows.append(f"<tr><td class=l>{label}</td>{cells}</tr>")
    rotation = rng.uniform(-0.7, 0.7) if rng.random() < 0.5 else 0.0
    blur = rng.uniform(0, 0.5) if rng.random() < 0.4 else 0.0
    html = f"""<!DOCTYPE html><html><head><meta charset=utf-8><style>
body {{ margin: 0; background: {background}; color: {ink}; font-family: '{font}'; font-size: {size:.1f}px; }}
.box {{ padding: {size * 1.2:.0f}px; display: inline-block; transform: rotate({rotation:.2f}deg);
       filter: blur({blur:.2f}px); }}
h1 {{ font-size: 1.25em; font-weight: normal; margin: 0 0 1em 0; }}
td {{ padding: {size * 0.35:.0f}px 0; }} td.l {{ padding-right: {size * rng.uniform(2, 5):.0f}px; }}
td.v {{ text-align: {rng.choice(['right', 'left'])}; }} td.u {{ padding-left: {size * 0.5:.0f}px; }}
</style></head><body><div class=box><h1>{TITLE[language]}</h1><table>{''.join(rows)}</table></div></body></html>"""
    return html, {"font": font, "size_px": round(size, 1), "dark": dark, "rotation_deg": round(rotation, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for the images and ground_truth.csv")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no Chromium found (Debian package chromium)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            language, printed, truth = screen(rng)
            html, style = page(rng, language, printed)
            source, shot = Path(tmp) / "screen.html", Path(tmp) / "screen.png"
            source.write_text(html, encoding="utf-8")
            size = (int(style["size_px"] * 40 + 200), int(style["size_px"] * 24 + 120))
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}", source.as_uri()],
                           capture_output=True, timeout=120, check=True)
            image = Image.open(shot).convert("RGB")
            if rng.random() < 0.4:
                noise = np.random.default_rng(args.seed * 1000 + i).normal(0, rng.uniform(1, 6), (image.height,
                                                                                                 image.width, 1))
                image = Image.fromarray(np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8))
            name = f"screen_{i:03d}." + rng.choice(["png", "jpg", "jpg"])
            if name.endswith(".jpg"):
                image.save(out / name, quality=rng.randint(35, 90))
            else:
                image.save(out / name)
            rows.append({"source_file": name, "language": language, **style, **truth,
                         **{f"text_{c}": " ".join(printed[c]).strip() for c in COLUMNS}})
    pd.DataFrame(rows).to_csv(out / "ground_truth.csv", index=False)
    print(f"{args.n} screens and their ground truth -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
