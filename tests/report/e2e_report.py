#!/usr/bin/python3
"""End-to-end `cxrtrain report` (issue 11) on a phantom run trained here with -np 2 on a pack with label
noise (so the expert-label section has content), in a run directory whose name carries HTML:
a. evaluate + gradcam + report: every promised file is written (with the Grad-CAM statistics, their region-share
   plot and the overlays of the flagged classes); index.html is one file (no link to another file or the network
   - an embedded overlay is a data: URI -, a Content-Security-Policy forbidding every other load); report.md has
   the same sections, the interpretability section included.
b. Headless Chromium renders index.html with no console message (the CSP turns any network load or
   script into one: checked by planting one), its DOM holds the per-class table (14 rows), the forest plot
   (14 rows), 13 ROC curves (Hernia has no positives), reliability diagrams, both subgroup heat maps, the
   published table and the generated statements, the interpretability section (its per-class table of 14 rows
   and region-share plot; any overlay an <img> whose source is a PNG data: URI that decodes); the run's name
   shows as text, never as markup; a screenshot is saved (SCREENSHOT) and must decode as a PNG of a rendered page.
c. Bad input ends with exit 2 naming the problem and leaves the previous report byte-identical: no
   evaluation for the split, a damaged metrics.json, a damaged environment.jsonl line, a torn cam_stats.json.
Usage: e2e_report.py CXRTRAIN SCREENSHOT [MPIEXEC]
"""
import base64
import glob
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
sys.path.insert(0, os.path.join(HERE, ".."))
SCREENSHOT = sys.argv.pop(2) if len(sys.argv) > 2 else None
from check_cli import png_problem  # noqa: E402
from e2e_common import CheckFailed, Harness, check, read_bytes  # noqa: E402

h = Harness("report")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    sys.exit("chromium is not installed: `apt-get install chromium` (scripts/install_deps.sh does)")
h.pack = os.path.join(h.tmp, "pack")
synth = subprocess.run([h.exe, "synth", "--out", h.pack, "--n", "2000", "--size", "32", "--seed", "5", "--label-noise",
                        "2", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
check(synth.returncode == 0, f"synth failed:\n{synth.stdout[-2000:]}")
NAME = 'run <u>&amp;"x\''  # markup and an entity in a path: must come out as text
RUN = os.path.join(h.tmp, NAME)
h.train(2, NAME, ["model.depth=18", "model.width=0.25", "train.global_batch=32", "train.epochs=2", "seed=1"])
REPORT = os.path.join(RUN, "report")
FILES = ["index.html", "report.md", "plots/forest.svg", "plots/roc.svg", "plots/reliability.svg",
         "plots/subgroups_auroc.svg", "plots/subgroups_sensitivity.svg", "data/forest.json", "data/roc.json",
         "data/reliability.json", "data/subgroups_auroc.json", "data/subgroups_sensitivity.json",
         "data/published.json", "data/conclusions.json", "plots/cam_region_shares.svg", "data/cam_stats.json"]
CAM_STATS = os.path.join(RUN, "gradcam", "cam_stats.json")
# `cxrtrain gradcam` runs before the report (small settings). At layer4 (the default) a 32 px film gives a 1 x 1
# feature map: every map is 0 or flat, all region shares and the randomisation check are n/a, and the section
# renders without anything in it to check; layer3 (2 x 2) gives maps with mass, so it is used here.
GRADCAM = [h.exe, "gradcam", "--run", RUN, "--layer", "layer3", "--per-class", "60", "--sanity-images", "8",
           "--deletion-images", "3", "--deletion-steps", "5", "--bootstrap", "200", "--no-progress"]


def shown_overlays():
    """The overlays the report copies: the shortcut-flagged classes' and the marker classes' (none planted here)."""
    s = json.load(open(CAM_STATS))
    markers = {m["class"] for m in (s["counterfactual"] or {}).get("shortcuts", [])}
    return [f"gradcam/{c}.png" for c, v in s["classes"].items() if v["shortcut_flag"] or c in markers]


def report(*extra, expect=0):
    r = h.run([h.exe, "report", "--run", RUN] + list(extra), timeout=120, log_name="report")
    check(r.rc == expect, f"report exited {r.rc}, expected {expect}:\n{r.tail()}")
    return r


def chromium(*args, url):
    p = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-extensions", "--enable-logging=stderr", "--v=0",
                        f"--user-data-dir={os.path.join(h.tmp, 'chromium-profile')}"] + list(args) + [url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
    return p, console


class Dom(html.parser.HTMLParser):
    """Counts elements by tag and by id/class, and collects the text inside elements with an id."""

    def __init__(self):
        super().__init__()
        self.tags, self.stack, self.rows_in, self.text, self.img_src = {}, [], {}, {}, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "img":
            self.img_src.append(a.get("src") or "")
        for key in (a.get("id"), a.get("class")):
            if key:
                self.tags["#" + key] = self.tags.get("#" + key, 0) + 1
        if tag == "tr":
            for t in self.stack:
                if t:
                    self.rows_in[t] = self.rows_in.get(t, 0) + 1
        if tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.stack.append(a.get("id"))

    def handle_endtag(self, tag):
        if self.stack and tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.stack.pop()

    def handle_data(self, data):
        for t in self.stack:
            if t:
                self.text[t] = self.text.get(t, "") + data


def files_and_offline():
    r = h.run([h.exe, "evaluate", "--run", RUN, "--bootstrap", "300"], timeout=300, log_name="evaluate")
    check(r.rc == 0, f"evaluate exited {r.rc}:\n{r.tail()}")
    r = h.run(GRADCAM, timeout=120, log_name="gradcam")
    check(r.rc == 0, f"gradcam exited {r.rc}:\n{r.tail()}")
    r = report()
    check("report/index.html" in r.output, f"report did not print where the report is:\n{r.tail()}")
    for f in FILES:
        check(os.path.getsize(os.path.join(REPORT, f)) > 200, f"{f} missing or nearly empty")
    check(read_bytes(os.path.join(REPORT, "data", "cam_stats.json")) == read_bytes(CAM_STATS),
          "data/cam_stats.json is not the run's gradcam/cam_stats.json")
    overlays = shown_overlays()
    copied = sorted(os.path.relpath(p, REPORT) for p in glob.glob(os.path.join(REPORT, "gradcam", "*")))
    check(copied == sorted(overlays), f"report/gradcam/ holds {copied}, expected the shown overlays {overlays}")
    for f in overlays:
        check(png_problem(os.path.join(REPORT, f)) is None, f"{f}: {png_problem(os.path.join(REPORT, f))}")
    page = open(os.path.join(REPORT, "index.html")).read()
    check("Content-Security-Policy" in page and "default-src 'none'" in page, "no CSP in index.html")
    urls = set(re.findall(r"(?:src|href)\s*=\s*[\"']([^\"']+)", page)) | set(re.findall(r"url\(([^)]*)\)", page))
    urls = {u for u in urls if not u.startswith("data:image/png;base64,")}  # an embedded overlay loads nothing
    check(not urls, f"index.html loads or links {sorted(urls)[:5]}")
    check(not re.search(r"https?://(?!www\.w3\.org/2000/svg\")", page), "a network address in index.html")
    md = open(os.path.join(REPORT, "report.md")).read()
    for section in ("## Method", "## Per class", "## Subgroups", "## Expert labels", "## Published numbers",
                    "## What these results support, and what they do not", "### What it cannot conclude",
                    "## Interpretability (Grad-CAM)", "## Robustness"):
        check(section in md, f"report.md lacks '{section}'")
    print(f"    {len(FILES) + len(overlays)} files ({len(overlays)} overlays), index.html {len(page) // 1024} KiB, "
          "self-contained")


def renders_in_chromium():
    url = "file://" + os.path.join(REPORT, "index.html").replace("%", "%25").replace(" ", "%20") \
        .replace("<", "%3C").replace(">", "%3E").replace('"', "%22").replace("'", "%27").replace("&", "%26")
    p, console = chromium("--dump-dom", url=url)
    check(p.returncode == 0, f"chromium exited {p.returncode}: {p.stderr[-1500:]}")
    check(not console, "console messages:\n" + "\n".join(console))
    dom = Dom()
    dom.feed(p.stdout)
    check(dom.rows_in.get("per-class-table", 0) == 15, f"per-class table has {dom.rows_in.get('per-class-table')} rows, "
                                                       "expected a header and 14 classes")
    check(dom.tags.get("#forest-row", 0) == 14, f"forest plot has {dom.tags.get('#forest-row')} rows")
    metrics = json.load(open(os.path.join(RUN, "eval", "test", "metrics.json")))
    defined = sum(c["auroc"] is not None for c in metrics["classes"].values())
    check(dom.tags.get("#curve", 0) == defined + 14, f"{dom.tags.get('#curve')} curves: expected {defined} ROC curves (one "
                                                     "per class with an AUROC) and 14 reliability lines")
    for plot in ("#forest-plot", "#roc-plot", "#reliability-plot", "#subgroup-auroc-plot", "#subgroup-sensitivity-plot"):
        check(dom.tags.get(plot) == 1, f"{plot} missing")
    check(dom.rows_in.get("published-table", 0) == 16, "published table should have a header, 14 classes and the mean")
    check(dom.rows_in.get("expert-table", 0) == 5, "expert table should have a header and 4 expert labels")
    check(dom.tags.get("u", 0) == 0, "the run's name was inserted as markup")
    check(NAME in dom.text.get("method-card", ""), "the run's name is not shown as text in the method card")
    supported = dom.text.get("supported", "")
    check("macro AUROC" in supported and "against the true labels" in supported, f"statements missing: {supported[:300]}")
    check(dom.tags.get("#phantom-warning") == 1, "no phantom warning")
    # No `cxrtrain probe-shift` here: the robustness section says so.
    check(dom.tags.get("#robustness-not-measured") == 1, "no 'not measured' robustness section")
    check(dom.tags.get("#interpretability") == 1 and dom.tags.get("#gradcam-not-run") is None,
          "no interpretability section with Grad-CAM results")
    check(dom.rows_in.get("gradcam-table", 0) == 15, f"Grad-CAM table has {dom.rows_in.get('gradcam-table')} rows, "
                                                     "expected a header and 14 classes")
    check(dom.tags.get("#cam-region-plot") == 1 and dom.tags.get("#gradcam-limitations") == 1,
          "region-share plot or limitations missing")
    n_overlays = len(shown_overlays())
    check(len(dom.img_src) == n_overlays, f"{len(dom.img_src)} images in the page, {n_overlays} overlays shown")
    for i, src in enumerate(dom.img_src):
        check(src.startswith("data:image/png;base64,"), f"image {i} is not a PNG data: URI: {src[:60]}")
        png = os.path.join(h.tmp, f"embedded_{i}.png")
        open(png, "wb").write(base64.b64decode(src.split(",", 1)[1]))
        check(png_problem(png) is None, f"embedded image {i}: {png_problem(png)}")
    # The console check can fail: a planted network load and script are reported.
    bad = os.path.join(h.tmp, "planted.html")
    open(bad, "w").write(open(os.path.join(REPORT, "index.html")).read().replace(
        "<h1>", '<img src="http://192.0.2.1/x.png"><script>console.log(1)</script><h1>', 1))
    _, planted = chromium("--dump-dom", url="file://" + bad)
    check(len(planted) >= 2, f"planted load and script not reported: {planted}")
    # Screenshot, looked at by the developer; here it must decode and hold a rendered page. 10500 px tall: the
    # whole page down to the interpretability section (about 9700 px).
    shot = SCREENSHOT or os.path.join(h.tmp, "report.png")
    if os.path.exists(shot):
        os.remove(shot)
    p, console = chromium("--hide-scrollbars", "--window-size=1280,10500", f"--screenshot={shot}", url=url)
    check(p.returncode == 0 and os.path.exists(shot), f"no screenshot: {p.stderr[-1000:]}")
    check(png_problem(shot) is None, f"screenshot: {png_problem(shot)}")
    check(os.path.getsize(shot) > 150_000, f"screenshot of {os.path.getsize(shot)} bytes: a blank page?")
    check(not console, "console messages in the screenshot run:\n" + "\n".join(console))
    print(f"    DOM: 15 table rows, 14 forest rows, {defined} ROC curves, 5 plots, interpretability section (15 rows, "
          f"{n_overlays} embedded overlays); screenshot {shot} "
          f"({os.path.getsize(shot) // 1024} KiB); planted load and script gave {len(planted)} console messages")


def bad_inputs_keep_the_report():
    files = FILES + shown_overlays()
    before = {f: read_bytes(os.path.join(REPORT, f)) for f in files}
    r = report("--split", "val", expect=2)
    check("holds no metrics.json" in r.output, f"no clear error for a missing evaluation:\n{r.tail()}")
    metrics = os.path.join(RUN, "eval", "test", "metrics.json")
    good = read_bytes(metrics)
    open(metrics, "wb").write(good[: len(good) // 2])
    r = report(expect=2)
    check("metrics.json' is not valid JSON" in r.output, f"damaged metrics.json:\n{r.tail()}")
    open(metrics, "wb").write(good.replace(b'"n_pos": ', b'"n_pos": -', 1))
    r = report(expect=2)
    check(re.search(r"metrics\.json: /classes/Atelectasis has a negative count", r.output), f"negative count:\n{r.tail()}")
    open(metrics, "wb").write(good)
    env = os.path.join(RUN, "environment.jsonl")
    env_good = read_bytes(env)
    open(env, "ab").write(b'{"started_utc": "torn\n')
    r = report(expect=2)
    check(re.search(r"environment\.jsonl:2: not a JSON line", r.output), f"damaged environment.jsonl:\n{r.tail()}")
    open(env, "wb").write(env_good)
    cam_good = read_bytes(CAM_STATS)
    open(CAM_STATS, "wb").write(cam_good[: len(cam_good) // 2])
    r = report(expect=2)
    check("cam_stats.json" in r.output and "not valid JSON" in r.output, f"torn cam_stats.json:\n{r.tail()}")
    open(CAM_STATS, "wb").write(cam_good)
    for f in files:
        check(read_bytes(os.path.join(REPORT, f)) == before[f], f"{f} changed after a failed report")
    check(not glob.glob(os.path.join(RUN, ".report.tmp*")), "a staging folder was left behind")
    report()
    check(read_bytes(os.path.join(REPORT, "data", "forest.json")) == before["data/forest.json"],
          "the same evaluation gave another report")
    print("    missing split, torn metrics.json, torn environment.jsonl, torn cam_stats.json: exit 2, report unchanged; "
          "rerun identical")


h.case("a. evaluate + gradcam + report write every file, offline", files_and_offline)
h.case("b. headless Chromium: no console message, tables and plots in the DOM, screenshot", renders_in_chromium)
h.case("c. bad input: exit 2 and the previous report untouched", bad_inputs_keep_the_report)
h.finish()
