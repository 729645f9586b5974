"""Charts drawn on the server as inline SVG: no script, nothing fetched, prints as it shows."""

from __future__ import annotations

from html import escape

PALETTE = ("#2F6DB5", "#E07B39", "#5AA469", "#B64B6E", "#7A5CB8", "#C9A227")


def bars(title: str, items: list[tuple[str, float]], *, width: int = 640, percent: bool = False) -> str:
    """Horizontal bars, one per (label, value), largest first as given."""
    row, label_width, pad = 22, 180, 8
    height = 30 + row * max(len(items), 1) + pad
    top = max((v for _, v in items), default=0) or 1
    span = width - label_width - 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, value) in enumerate(items):
        y = 26 + i * row
        length = max(value / top * span, 0)
        shown = f"{value:.1%}" if percent else f"{value:,.0f}"
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{escape(label[:16])}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="{row - 6}" '
                     f'fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{label_width + length + 4:.1f}" y="{y + 14}">{shown}</text>')
    if not items:
        parts.append('<text x="0" y="44" fill="#666">本期无数据</text>')
    parts.append("</svg>")
    return "".join(parts)


def grouped(title: str, labels: list[str], series: list[tuple[str, list[float | None]]], *, width: int = 720) -> str:
    """Columns per label for each series (本期 / 上期 / 上年同期), values as fractions of 1."""
    height, left, bottom, top_pad = 260, 40, 60, 40
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = top_pad + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    for s, (name, values) in enumerate(series):
        parts.append(f'<rect x="{left + 10 + s * 110}" y="24" width="10" height="10" fill="{PALETTE[s % 6]}"/>'
                     f'<text x="{left + 24 + s * 110}" y="33">{escape(name)}</text>')
        for i, value in enumerate(values):
            if value is None:
                continue
            h = max(min(value, 1), 0) * plot_h
            x = left + i * group + group * 0.1 + s * bar
            parts.append(f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[s % 6]}"><title>{escape(name)} {escape(labels[i])} {value:.1%}</title></rect>')
    for i, label in enumerate(labels):
        x = left + i * group + group / 2
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(label[:6])}</text>')
    parts.append("</svg>")
    return "".join(parts)
