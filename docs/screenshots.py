"""Screenshot every page of the built site in a headless browser, to check how it renders (not run by CI).

    mkdocs build --strict
    python docs/screenshots.py [--site site] [--out /tmp/docs_shots] [--chromium /usr/bin/chromium]

Serves the built site on a free localhost port, opens each page in Chromium through Playwright (the
system's Chromium: no `playwright install`), saves a full-page PNG per page (capped in height; long
pages are also shot at a few scroll positions), and prints the problems it sees: console errors,
failed requests, pages without navigation, code blocks without highlighting, API pages without
parameter tables. Exit status 1 if there were any.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAX_HEIGHT = 6000  # px of one full-page screenshot; longer pages get extra viewport shots


def pages(site: Path) -> list[str]:
    return sorted(
        str(path.relative_to(site).parent).replace(".", "") + "/"
        for path in site.rglob("index.html")
        if "assets" not in path.parts and "search" not in path.parts
    )


def serve(site: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    http.server.SimpleHTTPRequestHandler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="site", help="the built site (default: site)")
    parser.add_argument("--out", default="/tmp/docs_shots", help="where to write the PNGs")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser executable")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    site, out = Path(args.site), Path(args.out)
    if not (site / "index.html").is_file():
        parser.error(f"{site}/index.html not found: run `mkdocs build` first")
    out.mkdir(parents=True, exist_ok=True)
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
        page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        for path in pages(site):
            errors.clear()
            page.goto(base + path, wait_until="networkidle")
            name = path.strip("/").replace("/", "_") or "index"
            height = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(
                path=str(out / f"{name}.png"),
                full_page=True,
                clip=None if height <= MAX_HEIGHT else {"x": 0, "y": 0, "width": args.width, "height": MAX_HEIGHT},
            )
            if height > MAX_HEIGHT:  # a few more views down the page
                for number, y in enumerate(range(MAX_HEIGHT, min(height, 4 * MAX_HEIGHT), MAX_HEIGHT), 2):
                    page.evaluate(f"window.scrollTo(0, {y})")
                    page.screenshot(path=str(out / f"{name}_{number}.png"))
            found = [f"{path}: {error}" for error in errors]
            if not page.query_selector("nav.md-nav--primary"):
                found.append(f"{path}: no navigation")
            code_blocks = page.query_selector_all("pre > code")
            plain = [block for block in code_blocks if not block.query_selector("span")]
            if code_blocks and len(plain) == len(code_blocks) and "cli" not in path:
                found.append(f"{path}: no code block is highlighted")
            if path.startswith("api/") and "lightfm/" in path and not page.query_selector("table"):
                found.append(f"{path}: API page without parameter tables")
            problems += found
            print(f"{path:30} {height:6d}px  {len(code_blocks)} code blocks  {'OK' if not found else 'PROBLEMS'}")
        browser.close()
    server.shutdown()
    for problem in problems:
        print("problem:", problem, file=sys.stderr)
    print(f"screenshots in {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
