"""Load on one dashboard server, as a class or a long day puts it there, against
`streamlit run app.py`:

  viewers N    N viewers open the page at once, each with its own seed in its link, then all
               press "New samples" at once: p50 / p95 / max seconds until each page has both
               sample grids, in each phase; the server's CPU seconds per page opened and per "New samples" (its own
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
import contextlib
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from ganviz.store.live import LIVE
from ganviz.hostmem import rss_mb
from ganviz_tools.browser import IMAGES, chromium_browser, dashboard, train_now

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
    """One viewer speaking Streamlit's websocket protocol as the page's JavaScript does: full
    reruns with the link's query (and a button's trigger), the fragment reruns the server asks
    for on a timer (the page's heartbeat), ForwardMsg deltas in. It knows the page by what the
    browser would draw: image lists, buttons and exceptions."""

    def __init__(self, url: str, seed: int):
        self.url, self.query = url, f"seed={seed}"
        self.images: list[str] = []  # media URLs of the image lists of the current full run, in order
        self.buttons: dict[str, str] = {}  # label -> widget id
        self.errors: list[str] = []
        self.page = ""  # the page's script hash, sent back with every rerun as the browser does
        self.timers: dict[str, asyncio.Task] = {}  # fragment id -> its auto-rerun loop

    def _rerun(self, trigger: str | None = None, fragment: str = "") -> bytes:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_script_hash = self.query, self.page
        if fragment:
            state.fragment_id, state.is_auto_rerun = fragment, True
        if trigger:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = self.buttons[trigger], True
        return msg.SerializeToString()

    async def _fragment(self, ws, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await ws.send(self._rerun(fragment=fragment))

    async def run(self, ws, message: bytes, timeout: float) -> float:
        """Send one full rerun and read until it has finished: seconds until both grids were
        drawn and their files fetched. A page that raised, or drew fewer than two grids, is an
        error."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        t0, started, grids = time.perf_counter(), False, None
        await ws.send(message)
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout))
            kind = msg.WhichOneof("type")
            if kind == "new_session" and not msg.metadata.run.fragment_ids:  # a full run starts
                self.images, started, self.page = [], True, msg.new_session.page_script_hash
            elif kind == "auto_rerun" and msg.auto_rerun.fragment_id not in self.timers:
                self.timers[msg.auto_rerun.fragment_id] = asyncio.create_task(
                    self._fragment(ws, msg.auto_rerun.fragment_id, msg.auto_rerun.interval))
            elif kind == "script_finished" and started and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                break
            elif started and kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "imgs":
                    self.images.append(element.imgs.imgs[0].url)
                elif element.WhichOneof("type") == "button":
                    self.buttons[element.button.label] = element.button.id
                elif element.WhichOneof("type") == "exception":
                    self.errors.append(f"{element.exception.type}: {element.exception.message}")
                if len(self.images) == 2 and grids is None:
                    await asyncio.gather(*(asyncio.to_thread(
                        lambda u=u: urllib.request.urlopen(self.url + u, timeout=timeout).read()) for u in self.images))
                    grids = time.perf_counter() - t0
        if grids is None or self.errors:
            raise RuntimeError(f"the page ({self.query}) drew {len(self.images)} of 2 grids; errors: {self.errors}")
        return grids

    @contextlib.asynccontextmanager
    async def _connected(self, timeout: float):
        """The page's websocket; its heartbeat timers stop when it closes."""
        import websockets
        async with websockets.connect(self.url.replace("http", "ws", 1) + "/_stcore/stream", max_size=None,
                                      subprotocols=["streamlit"], open_timeout=timeout) as ws:
            try:
                yield ws
            finally:
                for timer in self.timers.values():
                    timer.cancel()

    async def open_once(self, timeout: float) -> float:
        """Open the page, read its run to the end, leave: seconds to both grids."""
        async with self._connected(timeout) as ws:
            return await self.run(ws, self._rerun(), timeout)

    async def session(self, opened: asyncio.Event, go: asyncio.Event, clicked: asyncio.Event,
                      done: asyncio.Event, timeout: float) -> tuple[float, float]:
        """Open the page; wait for `go`; press "New samples" (its run read to the end); stay
        connected, heartbeats and all, until `done`: seconds to both grids, each time."""
        async with self._connected(timeout) as ws:
            first = await self.run(ws, self._rerun(), timeout)
            opened.set()
            await go.wait()
            before = list(self.images)
            again = await self.run(ws, self._rerun("New samples"), timeout)
            if self.images == before:
                raise RuntimeError(f"'New samples' drew the same grids ({self.query})")
            clicked.set()
            await done.wait()
            return first, again


async def _all_set(events: list[asyncio.Event], tasks: list[asyncio.Task], timeout: float, what: str) -> None:
    """Wait until every event is set; a viewer's error ends the wait at once."""
    waiting = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in events)))
    finished, _ = await asyncio.wait([*tasks, waiting], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in finished:
        if task is not waiting:
            task.result()  # raises the viewer's error (a viewer only ends early by one)
    if not waiting.done():
        waiting.cancel()
        raise TimeoutError(f"{sum(not e.is_set() for e in events)} of {len(events)} pages not {what} "
                           f"after {timeout:.0f} s")


def _ws_viewers(url: str, proc, n: int, timeout: float) -> tuple[list[float], list[float], float, float, float]:
    """Both phases' seconds to both grids; the server's CPU seconds per page opened on a warm
    server (one viewer has opened the page before: the caches hold the generators and the
    run-wide figures); per "New samples", net of what the open pages' heartbeats cost it
    meanwhile; those heartbeats' CPU seconds per second."""
    async def run() -> tuple[list[float], list[float], float, float, float]:
        opened, clicked = [asyncio.Event() for _ in range(n)], [asyncio.Event() for _ in range(n)]
        go, done = asyncio.Event(), asyncio.Event()
        await WsViewer(url, n).open_once(timeout)
        await asyncio.sleep(2)
        cpu0 = cpu_s(proc.pid)
        tasks = [asyncio.create_task(WsViewer(url, seed).session(o, go, c, done, timeout))
                 for seed, (o, c) in enumerate(zip(opened, clicked))]
        try:
            await _all_set(opened, tasks, timeout, "open")
            opening = (cpu_s(proc.pid) - cpu0) / n
            await asyncio.sleep(5)  # let the opening settle, then measure what the pages' heartbeats cost
            cpu0, t0 = cpu_s(proc.pid), time.perf_counter()
            await asyncio.sleep(5)
            heartbeats = (cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0)
            cpu0, t0 = cpu_s(proc.pid), time.perf_counter()
            go.set()
            await _all_set(clicked, tasks, timeout, "done with 'New samples'")
            clicks = cpu_s(proc.pid) - cpu0 - heartbeats * (time.perf_counter() - t0)
            done.set()
            times = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        return [t[0] for t in times], [t[1] for t in times], opening, clicks / n, heartbeats
    return asyncio.run(run())


def _browser_viewers(url: str, proc, n: int, timeout: float) -> tuple[list[float], list[float], float, float, None]:
    """As `_ws_viewers`, on a cold server (the first pages pay for its caches); the CPU per "New
    samples" includes the pages' heartbeats meanwhile."""
    with chromium_browser() as browser:
        pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(n)]
        cpu0 = cpu_s(proc.pid)
        for seed, page in enumerate(pages):  # all at once: navigation starts, nobody waits for a page
            page.goto(f"{url}/?seed={seed}", wait_until="commit")
        opened = _until_all(pages, lambda p: p.locator(IMAGES).count() >= 2, timeout)
        opening = (cpu_s(proc.pid) - cpu0) / n
        before = [p.locator(IMAGES).first.get_attribute("src") for p in pages]
        time.sleep(5)  # let the opening settle, so the CPU below is the clicks'
        cpu0 = cpu_s(proc.pid)
        for page in pages:
            page.get_by_role("button", name="New samples").click(no_wait_after=True)
        changed = _until_all(pages, lambda p: p.locator(IMAGES).first.get_attribute("src") != before[pages.index(p)],
                             timeout)
        return opened, changed, opening, (cpu_s(proc.pid) - cpu0) / n, None


def viewers(n: int, client: str = "ws", timeout: float = 600) -> dict:
    with tempfile.TemporaryDirectory() as runs, dashboard(ROOT, {"GANVIZ_RUNS": runs}) as (url, proc):
        opened, changed, per_open, per_click, heartbeats = (_ws_viewers if client == "ws" else _browser_viewers)(
            url, proc, n, timeout)
        return {"viewers": n, "client": client, "open": _percentiles(opened), "new_samples": _percentiles(changed),
                "server_cpu_s_per_page_open": per_open, "opened_on_a_warm_server": client == "ws",
                "server_cpu_s_per_new_samples": per_click, "server_cpu_s_per_s_open_pages": heartbeats,
                "server_peak_rss_mb": rss_mb(proc.pid, "VmHWM")}


def trainings(n: int, steps: int = 30, timeout: float = 600) -> dict:
    with tempfile.TemporaryDirectory() as runs, dashboard(ROOT, {"GANVIZ_RUNS": runs}) as (url, proc), \
            chromium_browser() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url)
        page.wait_for_function(f"document.querySelectorAll(\"{IMAGES}\").length >= 2", timeout=timeout * 1000)
        rss = [rss_mb(proc.pid, "VmRSS")]
        for round_ in range(1, n + 1):
            train_now(page, steps, "doodles:camel:2000", batch=64, measure=256)
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
              f"{v['open']['p95_s']:.1f} s, server CPU {v['server_cpu_s_per_page_open']:.2f} s a page; 'New samples' on every page at once: p50 {v['new_samples']['p50_s']:.1f} s, "
              f"p95 {v['new_samples']['p95_s']:.1f} s, server CPU {v['server_cpu_s_per_new_samples']:.2f} s a page"
              + (f" (besides the open pages' heartbeats: {v['server_cpu_s_per_s_open_pages']:.2f} CPU s a second)"
                 if v["server_cpu_s_per_s_open_pages"] is not None else "")
              + f"; server peak RSS {v['server_peak_rss_mb']:.0f} MB", flush=True)
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
