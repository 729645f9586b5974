"""Charts as PNG images for documents that cannot hold SVG (the written report's .docx), drawn with
Pillow and a CJK font found on the machine."""

from __future__ import annotations

import functools
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from core.reports.svg import PALETTE

FONTS = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
         "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
         "C:/Windows/Fonts/msyh.ttc", "/System/Library/Fonts/PingFang.ttc")


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def bars(title: str, items: list[tuple[str, float]], *, percent: bool = False, width: int = 1200) -> bytes:
    """Horizontal bars, one per (label, value) in the order given, as a PNG (drawn at twice the size
    it is shown, so it prints sharply)."""
    row, label_width, top_pad = 44, 360, 70
    height = top_pad + row * max(len(items), 1) + 20
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((0, 10), title, fill="#222222", font=_font(30))
    top = max((v for _, v in items), default=0) or 1
    span = width - label_width - 160
    for i, (label, value) in enumerate(items):
        y = top_pad + i * row
        text = label if len(label) <= 14 else label[:13] + "…"
        draw.text((label_width - 12, y + 20), text, fill="#222222", font=_font(24), anchor="rm")
        length = max(value / top * span, 0)
        draw.rectangle((label_width, y + 6, label_width + max(length, 1), y + row - 8), fill=PALETTE[0])
        shown = f"{value:.1%}" if percent else f"{value:,.0f}"
        draw.text((label_width + length + 10, y + 20), shown, fill="#222222", font=_font(24), anchor="lm")
    if not items:
        draw.text((0, top_pad + 6), "本期无数据", fill="#666666", font=_font(24))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
