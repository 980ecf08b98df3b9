"""The load benchmark's light viewer speaks Streamlit's protocol well enough to measure it."""
from ganviz_tools import load


def test_websocket_viewers_open_the_page_and_draw_new_samples():
    out = load.viewers(2, "ws", timeout=300)  # raises on an exception on a page or on unchanged grids
    assert out["viewers"] == 2 and out["client"] == "ws"
    assert 0 < out["open"]["p50_s"] <= out["open"]["max_s"]
    assert 0 < out["new_samples"]["p50_s"] <= out["new_samples"]["max_s"]
    assert out["server_cpu_s_per_new_samples"] > 0 and out["server_cpu_s_per_s_open_pages"] > 0
    assert out["server_peak_rss_mb"] > 100
