"""`edgekit convert` writes report.html beside its outputs: the report card, a size/latency/accuracy plot and
a confusion matrix, self-contained. Checked in Debian's headless Chromium against the JSON report card the
same command prints; the recommended/dominated marks against the figures themselves."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.report_html import dominated, recommend, render_report, write_report
from converters.verify import Comparison, ReportRow
from tests.support.display_fixtures import chromium  # noqa: F401

RECIPES = ["float32", "float16", "dynamic", "int8", "int16x8"]


def row(recipe: str, size_kb: float, latency_ms: float, accuracy: float | None, verdict: str = "ok") -> ReportRow:
    comparison = Comparison(50, 1.0, 0.01, 0.001, 0.01, False)
    size = int(size_kb * 1000)
    return ReportRow(recipe, f"out/m_{recipe}.tflite", size, comparison, latency_ms, verdict, accuracy=accuracy)


def test_the_recommended_recipe_is_the_fastest_that_is_as_accurate_then_the_smallest_of_the_as_fast():
    rows = [
        row("float32", 400, 1.00, 0.91),
        row("float16", 200, 1.02, 0.91),  # as fast (within 10 %), half the size
        row("dynamic", 100, 1.60, 0.905),
        row("int8", 100, 0.60, 0.85),  # fastest and smallest, but 6 points less accurate
        row("int16x8", 110, 9.00, 0.91),
    ]
    assert recommend(rows) == "float16"
    # Slower and no larger than another (the first such one is named); int8 beats them all on both counts.
    assert dominated(rows) == {"float32": "int8", "float16": "int8", "dynamic": "int8", "int16x8": "dynamic"}
    refused = [row("int8", 100, 0.6, 0.91, "REFUSED: top-1 agreement 50% is below the recipe's 85%")]
    assert recommend(refused) is None and dominated(refused) == {}  # a refused file is not there to compare
    assert recommend([row("float32", 400, 1.0, None), row("int8", 100, 1.05, None)]) == "int8"  # by agreement


def test_the_page_marks_them_and_carries_the_json_card():
    rows = [row("float32", 400, 1.0, 0.91), row("int8", 100, 0.6, 0.91), row("int16x8", 110, 9.0, None, "FAILED: x")]
    page = render_report(rows, title="report <of> m")
    assert "report &lt;of&gt; m" in page
    assert re.search(r'<tr class="recommended" data-recipe="int8">', page)
    assert re.search(r'<tr class="dominated" data-recipe="float32">.*dominated by int8', page)
    card = json.loads(re.search(r'<script type="application/json" id="report-card">(.*?)</script>', page).group(1))
    assert [r["recipe"] for r in card["rows"]] == ["float32", "int8", "int16x8"] and card["recommended"] == "int8"
    # Self-contained: no stylesheet, script, font or picture from anywhere else.
    assert not re.search(r'(src|href)\s*=\s*"', page) and "@import" not in page and "url(" not in page


def test_a_thousand_class_confusion_matrix_keeps_the_page_small():
    """An ImageNet-sized label set: a rect per cell made 83 MB of page; non-zero cells only keep it in kilobytes."""
    from edgekit.eval import EvalReport

    classes, items = 1000, 5000
    rng = np.random.default_rng(0)
    truth = rng.integers(0, classes, items)
    predicted = np.where(rng.random(items) < 0.75, truth, rng.integers(0, classes, items))
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    report = EvalReport(tuple(f"class {i}" for i in range(classes)), confusion, (), "synthetic", "m")
    rows = [row(recipe, 400, 1.0 + index, 0.75) for index, recipe in enumerate(RECIPES)]
    page = render_report(rows, title="t", confusion=report, confusion_title="c")
    assert len(page.encode()) < 200_000, len(page)
    # Every non-zero cell is drawn once, at its place (2-pixel cells from the matrix's outlined corner).
    left, top = map(int, re.search(r'<rect x="(\d+)" y="(\d+)" width="2000" height="2000"', page).groups())
    drawn = sorted(((int(y) - top) // 2, (int(x) - left) // 2) for x, y in re.findall(r"M(\d+) (\d+)h2v2h-2z", page))
    assert drawn == sorted(map(tuple, np.argwhere(confusion).tolist()))


def test_a_folder_that_cannot_take_the_report_raises_oserror(tmp_path):
    (tmp_path / "report.html").mkdir()  # as a read-only folder does (root ignores permission bits)
    with pytest.raises(OSError):
        write_report(tmp_path, [row("float32", 400, 1.0, 0.9)], title="t")
    assert not [p for p in tmp_path.iterdir() if p.name != "report.html"]  # no temporary file left


# ----------------------------------------------------------------------------- the real command
@pytest.fixture(scope="module")
def five_recipes(digits, tmp_path_factory):
    """The digits model exported in all five recipes by the CLI, with labelled class folders (accuracy,
    confusion matrix), in a process where matplotlib cannot be imported (the report must not need it)."""
    root = tmp_path_factory.mktemp("report")
    labelled = root / "labelled"
    for image in sorted(Path(digits["test"]).glob("*.png")):
        folder = labelled / image.stem.split("label")[1]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, folder / image.name)
    out = root / "exports"
    out.mkdir()
    code = "import sys; sys.modules['matplotlib'] = None; from edgekit.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "convert", str(digits["keras"]), "--quantize", "all", "--calibration",
         str(labelled), "--labels", str(digits["labels"]), "-o", str(out), "--json"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {"out": out, "rows": rows, "stderr": done.stderr}


def _number(text: str) -> float:
    return float(re.match(r"-?[\d.]+(e-?\d+)?", text).group(0))


@pytest.mark.slow
@pytest.mark.display
def test_convert_writes_a_report_chromium_shows_with_the_json_figures(five_recipes, chromium):  # noqa: F811
    import cv2
    from selenium.webdriver.common.by import By

    report = five_recipes["out"] / "report.html"
    rows = {r["recipe"]: r for r in five_recipes["rows"]}
    assert sorted(rows) == sorted(RECIPES) and "warning" not in five_recipes["stderr"]
    print(f"\nreport.html for a five-recipe export: {report.stat().st_size / 1e3:.0f} kB (target 2 MB)")
    assert report.stat().st_size < 2_000_000, report.stat().st_size
    chromium.get(report.as_uri())
    shown = {}
    for tr in chromium.find_elements(By.CSS_SELECTOR, "#card tbody tr"):
        cells = {td.get_attribute("data-col"): td.text for td in tr.find_elements(By.CSS_SELECTOR, "td[data-col]")}
        standing = tr.find_element(By.CSS_SELECTOR, "td.standing").text
        shown[tr.get_attribute("data-recipe")] = (cells, standing, tr.get_attribute("class"))
    assert sorted(shown) == sorted(RECIPES)
    for recipe, (cells, standing, kind) in shown.items():
        json_row = rows[recipe]
        assert cells["recipe"] == recipe and cells["verdict"] == json_row["verdict"]
        # Each figure as printed, read back against the JSON number (the print rounds to 3 digits).
        size_kb = _number(cells["size"]) * (1000 if cells["size"].endswith("MB") else 1)
        assert size_kb == pytest.approx(json_row["size_bytes"] / 1e3, abs=0.051)
        assert _number(cells["accuracy"]) / 100 == pytest.approx(json_row["accuracy"], abs=0.0005)
        assert _number(cells["agreement"]) / 100 == pytest.approx(json_row["agreement"], abs=0.0005)
        assert _number(cells["p50 (1 thr)"]) == pytest.approx(json_row["latency_p50_ms"], rel=0.006)
        assert _number(cells["max err"]) == pytest.approx(json_row["max_abs_error"], rel=0.006)
        # The marks follow from the JSON figures: dominated = another written export is faster and no larger.
        faster = [
            other
            for other, o in rows.items()
            if o["latency_p50_ms"] < json_row["latency_p50_ms"] and o["size_bytes"] <= json_row["size_bytes"]
        ]
        if kind == "dominated":
            assert standing.removeprefix("dominated by ") in faster
        elif kind != "recommended":  # the recommended one may be beaten by a less accurate one
            assert not faster, (recipe, faster)
    recommended = [recipe for recipe, (_, _, kind) in shown.items() if kind == "recommended"]
    assert len(recommended) == 1 and shown[recommended[0]][1] == "★ recommended"
    best = max(r["accuracy"] for r in rows.values())
    assert rows[recommended[0]]["accuracy"] >= best - 0.01 and rows[recommended[0]]["verdict"] == "ok"
    assert recommended[0] in chromium.find_element(By.ID, "why").text
    # The pictures render and are not blank.
    for element_id in ("plot", "confusion"):
        element = chromium.find_element(By.ID, element_id)
        assert element.size["width"] > 200 and element.size["height"] > 200
        picture = cv2.imdecode(np.frombuffer(element.screenshot_as_png, np.uint8), cv2.IMREAD_COLOR)
        inked = (picture < 200).any(axis=2).mean()
        assert picture.std() > 20 and 0.02 < inked < 0.8, (element_id, picture.std(), inked)
    # The confusion matrix is the recommended recipe's: its diagonal holds the correct answers.
    title = chromium.find_element(By.CSS_SELECTOR, "#confusion text").text
    assert title.startswith(recommended[0] + ": accuracy") and f"{rows[recommended[0]]['accuracy']:.1%}" in title


def _convert_float16(digits, out: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", "convert", str(digits["keras"]), "--quantize", "float16",
         "--labels", str(digits["labels"]), "-o", str(out / "digits_float16.tflite"), *flags],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@contextlib.contextmanager
def _immutable(path: Path):
    """``chattr +i``: not even root may replace or remove the file (root ignores permission bits and a read-only
    file's mode, so chmod cannot make report.html unwritable for the root user tests run as here)."""
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not available here (needs root and ext4/xfs/btrfs): {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("blocker", ["a folder named report.html", "an immutable report.html, --overwrite"])
def test_a_report_that_cannot_be_written_is_one_warning_and_the_export_succeeds(digits, tmp_path, blocker):
    # The outputs' folder itself read-only refuses the whole export before any work, as for the models
    # (test_cli.test_unusable_output_path_fails_before_work): here the folder takes the model, not the report.
    report = tmp_path / "report.html"
    if blocker.startswith("a folder"):
        report.mkdir()
        done = _convert_float16(digits, tmp_path)
    else:
        report.write_text("an earlier report")
        with _immutable(report):
            done = _convert_float16(digits, tmp_path, "--overwrite")
        assert report.read_text() == "an earlier report"
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "digits_float16.tflite").stat().st_size > 10_000
    warnings = [line for line in done.stderr.splitlines() if "report.html" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: report.html not written in "), done.stderr
    assert "float16" in done.stdout and "report:" not in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_float16.tflite", "report.html"]  # no temporary


@pytest.mark.slow
def test_an_existing_report_is_replaced_only_with_overwrite(digits, tmp_path):
    report = tmp_path / "report.html"
    report.write_text("an earlier report")
    refused = _convert_float16(digits, tmp_path)  # refused before any work, as an existing model file is
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert [line for line in refused.stderr.splitlines() if line.startswith(("error:", "hint:"))] == [
        f"error: {str(report)!r} already exists (the report of an earlier export)",
        "hint: pass --overwrite to replace it, or export into another folder",
    ]
    assert report.read_text() == "an earlier report" and not (tmp_path / "digits_float16.tflite").exists()
    replaced = _convert_float16(digits, tmp_path, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert f"report: {report}" in replaced.stdout and "float16" in report.read_text()
