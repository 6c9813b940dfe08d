"""The digest chart is a real PNG of the expected size."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from aispend.digest.chart import PNG_SIGNATURE, chart_alt_text, render_chart
from tests.digest.test_content import WEEK, _build, _lines


def test_the_chart_is_a_valid_png_of_the_expected_size() -> None:
    digest = _build(_lines())
    data = render_chart(digest, dpi=50)
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # checks the chunks' CRCs
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (600, 240)  # 12 x 4.8 inches at 50 dpi
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is not None and len(colours) > 10  # bars were drawn, not a blank canvas
    assert f"{WEEK.end:%b %d}" in chart_alt_text(digest)


def test_a_team_without_budgets_still_gets_a_chart() -> None:
    digest = _build(_lines())
    no_budgets = replace(digest, chart=replace(digest.chart, budgets=()))
    assert render_chart(no_budgets, dpi=40).startswith(PNG_SIGNATURE)
