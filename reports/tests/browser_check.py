#!/usr/bin/env python3
"""browser_check.py — renders a quantbench report in headless Chromium and checks what a user
would see: the page is not blank, every image and inline SVG plot rendered, and the page made
no network request. Exits 0 when all hold, 1 with one line per failure, 77 (skip) when
chromium is missing unless QB_REQUIRE_ORACLES=1.

Usage: browser_check.py REPORT_DIR [--expect-fail]
  --expect-fail  the negative control: the page is expected to break a rule (used by the test
                 on pages made broken on purpose, so a check that cannot fail is caught).

Checks, each independent of the others:
  1. static: every src/href in index.html is an in-page anchor, a data: URL, or a relative
     file that exists in REPORT_DIR; http(s) appears only in SVG xmlns attributes;
  2. in the browser, on a copy of the page with a checking script appended (the report itself
     carries no script): every <img> is complete with naturalWidth > 0, every <svg> has a
     box of at least 50x50 px, and the Resource Timing list holds no http(s) entry;
  3. Chromium's own network log (--log-net-log) holds no request the page initiated to a
     network URL: host names resolve to nothing and the proxy is a closed port, so such a
     request would also fail to load;
  4. a screenshot (PNG decoded here with zlib, no PIL needed) has at least 16 distinct colors
     and at least 2 % of its pixels not white."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if v is None:
                continue
            if k in ("src", "href", "xlink:href", "srcset", "poster", "data", "action"):
                self.refs.append((tag, k, v))
            elif not k.startswith("xmlns") and re.match(r"^\s*(https?:)?//", v):
                self.refs.append((tag, k, v))  # any other attribute holding a network URL


def static_check(report, html):
    errs = []
    p = Refs()
    p.feed(html)
    for tag, k, v in p.refs:
        v = v.strip()
        if v.startswith("#") or v.startswith("data:"):
            continue
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", v) or v.startswith("//"):
            errs.append("static: <%s %s=%r> points outside the report" % (tag, k, v))
            continue
        f = os.path.join(report, v.split("#")[0].split("?")[0])
        if not os.path.isfile(f):
            errs.append("static: <%s %s=%r> names a file that does not exist" % (tag, k, v))
    for m in re.finditer(r"url\(\s*['\"]?(https?:)?//", html):
        errs.append("static: CSS url() to the network at offset %d" % m.start())
    return errs


CHECK_JS = r"""
<script>
window.addEventListener('load', function () {
  var bad = [];
  Array.prototype.forEach.call(document.images, function (im) {
    if (!im.complete || im.naturalWidth === 0) bad.push('img not decoded: ' + im.getAttribute('src'));
  });
  Array.prototype.forEach.call(document.querySelectorAll('svg'), function (s, i) {
    var r = s.getBoundingClientRect();
    if (s.parentElement && s.parentElement.closest('svg')) return;
    if (r.width < 50 || r.height < 50) bad.push('svg ' + i + ' rendered ' + r.width + 'x' + r.height);
  });
  var net = performance.getEntriesByType('resource').map(function (e) { return e.name; })
    .filter(function (n) { return !/^(file|data|blob|about):/.test(n); });
  var m = document.createElement('pre');
  m.textContent = 'QBCHECK ' + JSON.stringify({svgs: document.querySelectorAll('svg').length,
    imgs: document.images.length, bad: bad, net: net, height: document.body.scrollHeight}) + ' QBEND';
  document.body.appendChild(m);
});
</script>
"""


def run_chromium(exe, args, tmp):
    base = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + os.path.join(tmp, "profile"),
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
            "--hide-scrollbars"]
    r = subprocess.run(base + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def net_urls(path):
    """Network URLs the PAGE asked for, from Chromium's net log: URL_REQUEST_START_JOB events
    whose initiator is an origin (the file:// page is the opaque origin "null"); the browser's
    own background requests (update checks, sign-in) carry "not an origin" and are not the
    page's doing. A log that does not parse (a killed browser leaves it unterminated) is
    scanned as text for any network URL instead, which can only be stricter."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return ["(no net log written)"]
    try:
        log = json.loads(text)
    except ValueError:
        try:
            log = json.loads(text.rstrip().rstrip(",") + "]}")
        except ValueError:
            return sorted(set(re.findall(r'"url"\s*:\s*"((?:https?|wss?|ftp)://[^"]*)"', text)))
    names = {v: k for k, v in log.get("constants", {}).get("logEventTypes", {}).items()}
    urls = set()
    for ev in log.get("events", []):
        p = ev.get("params") or {}
        if names.get(ev.get("type")) != "URL_REQUEST_START_JOB" or "url" not in p:
            continue
        if p.get("initiator", "not an origin") == "not an origin":
            continue
        if not re.match(r"^(file|data|blob|about|chrome):", p["url"]):
            urls.add(p["url"])
    return sorted(urls)


def png_stats(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("unexpected PNG layout depth %d type %d interlace %d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    colors, nonwhite = set(), 0
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        px = [bytes(line[i:i + 3]) for i in range(0, stride, bpp)]
        colors.update(px)
        nonwhite += sum(1 for p in px if p != b"\xff\xff\xff")
        prev = line
    return len(colors), nonwhite / float(w * h)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    expect_fail = "--expect-fail" in sys.argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1])
        return 2
    report = os.path.abspath(args[0])
    exe = chromium()
    if not exe:
        if os.environ.get("QB_REQUIRE_ORACLES") == "1":
            print("FAIL: chromium not installed but required (QB_REQUIRE_ORACLES=1): apt-get install chromium")
            return 1
        print("SKIP: chromium not installed (apt-get install chromium)")
        return 77
    html = open(os.path.join(report, "index.html"), encoding="utf-8").read()
    errs = static_check(report, html)
    tmp = tempfile.mkdtemp(prefix="qb_browser_")
    try:
        check = os.path.join(report, ".qb_browser_check.html")
        with open(check, "w", encoding="utf-8") as f:
            f.write(html.replace("</body>", CHECK_JS + "</body>", 1))
        netlog = os.path.join(tmp, "net.json")
        rc, dom = run_chromium(exe, ["--virtual-time-budget=5000", "--log-net-log=" + netlog, "--dump-dom",
                                     "file://" + check], tmp)
        os.unlink(check)
        m = re.search(r"QBCHECK (.*?) QBEND", dom)
        if not m:
            errs.append("browser: the page's check did not run (chromium exit %d)" % rc)
        else:
            r = json.loads(m.group(1))
            print("browser: %d inline svg, %d img, page height %d px" % (r["svgs"], r["imgs"], r["height"]))
            errs += ["browser: " + b for b in r["bad"]]
            errs += ["browser: network request " + u for u in r["net"]]
            if r["svgs"] + r["imgs"] == 0:
                errs.append("browser: the page shows no image or plot")
        errs += ["net log: request to " + u for u in net_urls(netlog)]
        shot = os.path.join(tmp, "shot.png")
        rc, _ = run_chromium(exe, ["--window-size=1000,1200", "--screenshot=" + shot, "file://" + os.path.join(report, "index.html")],
                             tmp)
        if not os.path.isfile(shot):
            errs.append("screenshot: chromium wrote none (exit %d)" % rc)
        else:
            ncol, ink = png_stats(shot)
            print("screenshot: %d distinct colors, %.1f %% non-white" % (ncol, 100 * ink))
            if ncol < 16 or ink < 0.02:
                errs.append("screenshot: the page looks blank (%d colors, %.2f %% non-white)" % (ncol, 100 * ink))
            if os.environ.get("QB_TEST_KEEP"):
                shutil.copy(shot, os.path.join(report, "screenshot.png"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for e in errs:
        print(e)
    if expect_fail:
        print("negative control: %s" % ("caught %d problem(s)" % len(errs) if errs else "NOT caught"))
        return 0 if errs else 1
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
