"""Load on one dashboard server, as a class or a long day puts it there, against
`streamlit run app.py`:

  viewers N    N viewers open the page at once, each with its own seed in its link, then all
               press "New samples" at once: p50 / p95 / max seconds until each page has both
               sample grids, in each phase; the server's CPU seconds per "New samples" (its own
               share, apart from the clients'); the server's peak RSS. Two kinds of viewer:
                 ws       Streamlit's own protocol over a websocket, as the page's JavaScript
                          speaks it (a rerun with the link's query, then the button's trigger),
                          and both grids' image files fetched over HTTP: the server does all it
                          does for a browser, and the clients cost the machine almost nothing
                 browser  a headless Chromium context each: the whole page, rendered; on 2
                          cores 20 renderers starve the server they measure
  trainings N  one browser trains N short runs in a row (30 steps by default, both variants, the
               default data set) and compares a new seed after each: the server's RSS after each
               round (trainings run in their own processes, so it should stay flat), and the
               training processes' peak RSS (each writes its own into live.npz)

The browsers share the machine with the server, so the times overstate the server's share.
Run: python -m ganviz load --viewers 20 --trainings 20 [--steps 30] [--json out.json]
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from ganviz.store.live import LIVE
from tools.browser import IMAGES, chromium_browser, dashboard, rss_mb, train_now

ROOT = Path(__file__).resolve().parents[1]


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used so far (user + system), Linux only."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(seconds: list[float]) -> dict[str, float]:
    return {"p50_s": float(np.percentile(seconds, 50)), "p95_s": float(np.percentile(seconds, 95)),
            "max_s": max(seconds)}


def _until_all(pages, done, timeout: float) -> list[float]:
    """Seconds until `done(page)` for each page, polling them in turn (one thread drives all)."""
    t0, took = time.time(), [None] * len(pages)
    while None in took:
        if time.time() - t0 > timeout:
            raise TimeoutError(f"{took.count(None)} of {len(pages)} pages not done after {timeout:.0f} s")
        for i, page in enumerate(pages):
            if took[i] is None and done(page):
                took[i] = time.time() - t0
        time.sleep(0.05)
    return took


class WsViewer:
    """One viewer speaking Streamlit's websocket protocol: BackMsg reruns out, ForwardMsg
    deltas in. It knows the page by what the browser would draw: image lists, buttons and
    exceptions."""

    def __init__(self, url: str, seed: int):
        self.url, self.query = url, f"seed={seed}"
        self.images: list[str] = []  # media URLs of the image lists of the current run, in order
        self.buttons: dict[str, str] = {}  # label -> widget id
        self.errors: list[str] = []

    async def _until_grids(self, ws, timeout: float) -> None:
        """Read messages until a new run of the script has drawn two image lists (what is left
        of the last run is skipped: every run starts with a new_session message); fetch their
        files."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        self.images, started = [], False
        while len(self.images) < 2:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout))
            if msg.WhichOneof("type") == "new_session":
                self.images, started = [], True
            if not started or msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
                continue
            element = msg.delta.new_element
            kind = element.WhichOneof("type")
            if kind == "imgs":
                self.images.append(element.imgs.imgs[0].url)
            elif kind == "button":
                self.buttons[element.button.label] = element.button.id
            elif kind == "exception":
                self.errors.append(f"{element.exception.type}: {element.exception.message}")
        await asyncio.gather(*(asyncio.to_thread(lambda u=u: urllib.request.urlopen(self.url + u, timeout=timeout).read())
                               for u in self.images))

    def _rerun(self, trigger: str | None = None) -> bytes:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        if trigger:
            widget = msg.rerun_script.widget_states.widgets.add()
            widget.id, widget.trigger_value = self.buttons[trigger], True
        return msg.SerializeToString()

    async def session(self, opened: asyncio.Event, go: asyncio.Event, timeout: float) -> tuple[float, float]:
        """Open the page; wait for `go`; press "New samples": seconds to both grids, each time."""
        import websockets
        async with websockets.connect(self.url.replace("http", "ws", 1) + "/_stcore/stream", max_size=None,
                                      subprotocols=["streamlit"], open_timeout=timeout) as ws:
            t0 = time.perf_counter()
            await ws.send(self._rerun())
            await self._until_grids(ws, timeout)
            first = time.perf_counter() - t0
            opened.set()
            await go.wait()
            before = list(self.images)
            t0 = time.perf_counter()
            await ws.send(self._rerun("New samples"))
            await self._until_grids(ws, timeout)
            if self.images == before:
                self.errors.append("'New samples' drew the same grids")
            return first, time.perf_counter() - t0


def _ws_viewers(url: str, proc, n: int, timeout: float) -> tuple[list[float], list[float], float]:
    async def run() -> tuple[list[float], list[float], float]:
        clients = [WsViewer(url, seed) for seed in range(n)]
        opened, go = [asyncio.Event() for _ in clients], asyncio.Event()
        tasks = [asyncio.create_task(v.session(o, go, timeout)) for v, o in zip(clients, opened)]
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), timeout)
        await asyncio.sleep(5)  # let the opening settle, so the CPU below is the clicks'
        cpu0 = cpu_s(proc.pid)
        go.set()
        times = await asyncio.gather(*tasks)
        errors = [e for v in clients for e in v.errors]
        if errors:
            raise RuntimeError(f"{len(errors)} error(s) on the pages, the first: {errors[0]}")
        return [t[0] for t in times], [t[1] for t in times], cpu_s(proc.pid) - cpu0
    return asyncio.run(run())


def _browser_viewers(url: str, proc, n: int, timeout: float) -> tuple[list[float], list[float], float]:
    with chromium_browser() as browser:
        pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(n)]
        for seed, page in enumerate(pages):  # all at once: navigation starts, nobody waits for a page
            page.goto(f"{url}/?seed={seed}", wait_until="commit")
        opened = _until_all(pages, lambda p: p.locator(IMAGES).count() >= 2, timeout)
        before = [p.locator(IMAGES).first.get_attribute("src") for p in pages]
        time.sleep(5)  # let the opening settle, so the CPU below is the clicks'
        cpu0 = cpu_s(proc.pid)
        for page in pages:
            page.get_by_role("button", name="New samples").click(no_wait_after=True)
        changed = _until_all(pages, lambda p: p.locator(IMAGES).first.get_attribute("src") != before[pages.index(p)],
                             timeout)
        return opened, changed, cpu_s(proc.pid) - cpu0


def viewers(n: int, client: str = "ws", timeout: float = 600) -> dict:
    with tempfile.TemporaryDirectory() as runs, dashboard(ROOT, {"GANVIZ_RUNS": runs}) as (url, proc):
        opened, changed, server_cpu = (_ws_viewers if client == "ws" else _browser_viewers)(url, proc, n, timeout)
        return {"viewers": n, "client": client, "open": _percentiles(opened), "new_samples": _percentiles(changed),
                "server_cpu_s_per_new_samples": server_cpu / n, "server_peak_rss_mb": rss_mb(proc.pid)}


def trainings(n: int, steps: int = 30, timeout: float = 600) -> dict:
    with tempfile.TemporaryDirectory() as runs, dashboard(ROOT, {"GANVIZ_RUNS": runs}) as (url, proc), \
            chromium_browser() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url)
        page.wait_for_function(f"document.querySelectorAll(\"{IMAGES}\").length >= 2", timeout=timeout * 1000)
        rss = [rss_mb(proc.pid, "VmRSS")]
        for round_ in range(1, n + 1):
            train_now(page, steps, "doodles:camel:2000", batch=64)
            page.get_by_text("Saved 2 bundle(s)").wait_for(state="detached", timeout=timeout * 1000)  # the last round's
            page.wait_for_selector("text=Saved 2 bundle(s)", timeout=timeout * 1000)
            page.get_by_role("radio", name="Compare", exact=True).click()
            page.wait_for_function(f"document.querySelectorAll(\"{IMAGES}\").length >= 2", timeout=timeout * 1000)
            before = page.locator(IMAGES).first.get_attribute("src")
            page.get_by_role("button", name="New samples").click()
            page.wait_for_function(f"((document.querySelector(\"{IMAGES}\") || {{}}).src ?? {before!r}) != {before!r}",
                                   timeout=timeout * 1000)  # images leave the page for a moment while it reruns
            rss.append(rss_mb(proc.pid, "VmRSS"))
            print(f"training {round_}: server RSS {rss[-1]:.0f} MB", flush=True)
        tensorflow = "tensorflow" in Path(f"/proc/{proc.pid}/maps").read_text()
        peaks = [float(json.loads(str(np.load(f, allow_pickle=False)["meta"]))["peak_rss_mb"])
                 for f in Path(runs).rglob(LIVE)]
        return {"trainings": n, "steps": steps, "server_rss_mb": rss, "tensorflow_in_server": tensorflow,
                "training_process_peak_rss_mb": max(peaks)}


def main(n_viewers: int, n_trainings: int, json_path: str | None = None, steps: int = 30,
         client: str = "ws") -> dict:
    out = {}
    if n_viewers:
        out["viewers"] = v = viewers(n_viewers, client)
        print(f"{v['viewers']} viewers ({client}) at once: both grids after p50 {v['open']['p50_s']:.1f} s, p95 "
              f"{v['open']['p95_s']:.1f} s; 'New samples' on every page at once: p50 {v['new_samples']['p50_s']:.1f} s, "
              f"p95 {v['new_samples']['p95_s']:.1f} s, server CPU {v['server_cpu_s_per_new_samples']:.2f} s a page; "
              f"server peak RSS {v['server_peak_rss_mb']:.0f} MB", flush=True)
    if n_trainings:
        out["trainings"] = t = trainings(n_trainings, steps)
        print(f"{t['trainings']} trainings of {t['steps']} steps: server RSS "
              f"{' -> '.join(f'{r:.0f}' for r in t['server_rss_mb'])} MB "
              f"({t['server_rss_mb'][-1] - t['server_rss_mb'][0]:+.0f} MB); TensorFlow in the server: "
              f"{t['tensorflow_in_server']}; training processes' peak RSS {t['training_process_peak_rss_mb']:.0f} MB",
              flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2))
    return out
