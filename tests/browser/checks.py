"""What a person perceives on a page, measured in the browser: text contrast (WCAG 2 formula),
accessible names as Chromium's accessibility tree computes them, keyboard focus, horizontal
overflow, first paint, and what the charts have drawn.
"""
from __future__ import annotations

# Every visible element with its own text: its colour against the background painted under it
# (backgrounds of the ancestors composited over white; opacity lightens the text the same way).
CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  const background = (el) => {
    const layers = [];
    let opacity = 1;
    for (let n = el; n; n = n.parentElement) {
      const style = getComputedStyle(n);
      opacity *= Number(style.opacity);
      const c = parse(style.backgroundColor);
      if (c && c.a > 0) layers.push(c);
      if (c && c.a === 1) break;
    }
    let color = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) color = over(layer, color);
    return { color, opacity };
  };
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const skip = new Set(["SCRIPT", "STYLE", "TITLE", "NOSCRIPT", "OPTION", "PROGRESS", "CANVAS"]);
  const results = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (skip.has(el.tagName)) continue;
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own.length || !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    if (!el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const { color: bg, opacity } = background(el);
    const fg = parse(style.color);
    const text = over({ ...fg, a: fg.a * opacity }, bg);
    const [hi, lo] = [luminance(text), luminance(bg)].sort((a, b) => b - a);
    results.push({ tag: el.tagName.toLowerCase(), cls: el.className || "",
                   text: own.map((n) => n.textContent.trim()).join(" ").slice(0, 60),
                   color: style.color, background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})`,
                   ratio: (hi + 0.05) / (lo + 0.05) });
  }
  return results;
}
"""

# static/js/format.js's durations ("3 min 20 s"), and its estimates ("about 3 min 20 s").
DURATION = r"(under 1 s|\d+ s|\d+ min( \d+ s)?|\d+ h( \d+ min)?|\d+ d( \d+ h)?)"
ESTIMATE = r"(under 1 s|about (\d+ s|\d+ min( \d+ s)?|\d+ h( \d+ min)?|\d+ d( \d+ h)?))"

CONTROLS = "input:not([type=hidden]), select, textarea, button"


def accessible_names(page) -> list[dict]:
    """Each form control with the name Chromium's accessibility tree gives it."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        found = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": CONTROLS})
        controls = []
        for node_id in found["nodeIds"]:
            tree = cdp.send("Accessibility.getPartialAXTree",
                            {"nodeId": node_id, "fetchRelatives": False})["nodes"]
            node = tree[0]
            controls.append({
                "html": cdp.send("DOM.getOuterHTML", {"nodeId": node_id})["outerHTML"][:160],
                "role": node.get("role", {}).get("value"),
                "name": (node.get("name") or {}).get("value", "").strip(),
                "ignored": node.get("ignored", False),
            })
        return controls
    finally:
        cdp.detach()


def focused(page) -> dict:
    """The element that has keyboard focus, and whether a focus ring is drawn around it."""
    return page.evaluate("""() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent || "").trim().slice(0, 40),
               ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2 };
    }""")


def tab_to(page, selector: str, limit: int = 60) -> list[dict]:
    """Press Tab until ``selector`` has focus; every stop on the way (each must show a ring)."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = focused(page)
        stops.append(stop)
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"{selector} never had focus after {limit} Tabs: {stops}")


def horizontal_overflow(page) -> dict:
    """The page's scroll width against the window's, and the widest elements sticking out."""
    return page.evaluate("""() => {
      const width = document.documentElement.clientWidth;
      const wide = [...document.body.querySelectorAll("*")]
        .filter((el) => el.getBoundingClientRect().right > width + 0.5)
        .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`);
      return { scrollWidth: document.scrollingElement.scrollWidth, width, wide };
    }""")


def first_contentful_paint(page) -> float | None:
    """Milliseconds from navigation to the first text or image painted (None: none in 5 s).
    A light page can finish loading before its first frame, so this waits for the entry."""
    return page.evaluate("""() => new Promise((done) => {
      const observer = new PerformanceObserver((list) => {
        const entry = list.getEntries().find((e) => e.name === "first-contentful-paint");
        if (entry) { observer.disconnect(); done(entry.startTime); }
      });
      observer.observe({ type: "paint", buffered: true });
      setTimeout(() => done(null), 5000);
    })""")


# A chart's datasets: how many points each holds, and how many of them Chart.js placed inside
# the plotting area (a point with no pixel position was never drawn).
CHART_JS = """
(id) => {
  const chart = window.Chart && window.Chart.getChart(id);
  if (!chart) return null;
  const area = chart.chartArea;
  return chart.data.datasets.map((d, i) => ({
    label: d.label,
    values: d.data.map((p) => (typeof p === "object" && p !== null ? p.y : p)),
    drawn: chart.getDatasetMeta(i).data.filter((el) => Number.isFinite(el.x) && Number.isFinite(el.y)
      && el.x >= area.left - 1 && el.x <= area.right + 1 && el.y >= area.top - 1 && el.y <= area.bottom + 1).length,
  }));
}
"""

# Pixels of the canvas close to a colour: what the eye sees of one line.
PIXELS_JS = """
([id, rgb]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]) < 40
        && data[i + 3] > 200) count += 1;
  }
  return count;
}
"""


def chart(page, canvas_id: str) -> list[dict] | None:
    return page.evaluate(CHART_JS, canvas_id)


def pixels_of(page, canvas_id: str, rgb: tuple[int, int, int]) -> int:
    return page.evaluate(PIXELS_JS, [canvas_id, list(rgb)])
