"""What a shared link restores, and what it must not carry.

The view (run, the operators side by side, sample seed, replay step, section, smoothing) lives
in the URL, so a copied address bar restores it. Control of a browser's runs (pause, stop, train,
upload) belongs to its owner key, which lives in a cookie, never in the URL: a shared link shows,
it does not steer.
Runs are stored under the key's public id (a hash), so the folder names reveal no key.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np

from ganviz import operators
from ganviz.config import EARLY_STEPS, MAX_SEED
from ganviz.store.bundle import nearest_steps

VIEWS = ("Compare", "Training", "Analysis", "Why they differ", "Train now")
MAX_SMOOTH = 0.99  # the loss curves' smoothing slider goes up to this; a link may not ask more
COOKIE = "ganviz_owner"
COOKIE_MAX_AGE_S = 30 * 24 * 3600
_KEY = re.compile(r"[0-9a-f]{32}")
_PUBLIC = re.compile(r"[0-9a-f]{16}")


def owner_key(cookie: object) -> tuple[str, bool]:
    """(key, new): the browser's owner key from its cookie, or a fresh random one (128 bits) when
    the cookie is missing or malformed. A forged key that matches the pattern owns nothing
    until it trains something: its runs folder is its own, and empty."""
    if isinstance(cookie, str) and _KEY.fullmatch(cookie):
        return cookie, False
    return secrets.token_hex(16), True


def public_id(key: str) -> str:
    """The name of a key's runs folder: a hash, so that showing a run's name gives no control."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def is_public_id(text: str) -> bool:
    return bool(_PUBLIC.fullmatch(text))


def set_cookie_script(key: str) -> str:
    """The page's script that stores the owner key in a first-party cookie, for reloads."""
    return (f"<script>document.cookie = '{COOKIE}={key}; path=/; max-age={COOKIE_MAX_AGE_S}; SameSite=Strict'"
            " + (location.protocol === 'https:' ? '; Secure' : '');</script>")


@dataclass
class ViewState:
    """What a shared link restores: run, the operators side by side, sample seed, replay step,
    section, smoothing."""
    run: str = ""
    pair: tuple[str, ...] = ()  # the operators side by side in a run of more than two; (): its default pair
    seed: int = 0
    step: int = -1  # -1: the last recorded step
    view: str = VIEWS[0]
    smooth: float = 0.6

    @classmethod
    def from_query(cls, params: dict[str, str], runs: list[str]) -> tuple["ViewState", list[str]]:
        """Parse URL parameters; bad values fall back to defaults with a message each."""
        state, problems = cls(run=runs[0] if runs else ""), []
        if "run" in params:
            if params["run"] in runs:
                state.run = params["run"]
            else:
                problems.append(f"run {params['run']!r} is not available; showing {state.run!r}")
        for key, cast, low, high in (("seed", int, 0, MAX_SEED), ("step", int, -1, None),
                                     ("smooth", float, 0.0, MAX_SMOOTH)):
            if key in params:
                try:
                    value = cast(params[key])
                    if not (low <= value and (high is None or value <= high)):
                        raise ValueError
                    setattr(state, key, value)
                except ValueError:
                    accepted = f"{low} to {high}" if high is not None else f"{low} or more"
                    problems.append(f"URL parameter {key}={params[key]!r} is not a number from {accepted}; "
                                    f"using {getattr(state, key)}")
        if "pair" in params:
            pair = tuple(params["pair"].split(","))
            if 1 <= len(set(pair)) == len(pair) <= 2 and all(v in operators.names() for v in pair):
                state.pair = pair
            else:
                problems.append(f"pair {params['pair']!r} is not one or two different operators, comma-separated; "
                                f"accepted: {', '.join(operators.names())}")
        if "view" in params:
            if params["view"] in VIEWS:
                state.view = params["view"]
            else:
                problems.append(f"view {params['view']!r} is unknown; accepted: {', '.join(VIEWS)}")
        return state, problems

    def to_query(self) -> dict[str, str]:
        return {"run": self.run, **({"pair": ",".join(self.pair)} if self.pair else {}), "seed": str(self.seed),
                "step": str(self.step), "view": self.view, "smooth": f"{self.smooth:g}"}


def compare_steps(timeline_steps: np.ndarray) -> list[int]:
    """The recorded steps nearest EARLY_STEPS (not step 0), then -1 for the final generator."""
    chosen = [s for s in nearest_steps(np.asarray(timeline_steps)[:-1], EARLY_STEPS) if s]
    return [*chosen, -1]


def share_link(page_url: str | None, view: dict[str, str]) -> str:
    """The public link to this view: the page's address (when the browser sent it) with the
    view's parameters and nothing else."""
    return f"{(page_url or '').split('?')[0]}?{urlencode(view)}"


def public_view(view: ViewState, own: str, live_folder: str | None, linked_live: str) -> dict[str, str]:
    """What the address bar and "Share this view" carry: the view, and a live training to watch
    (this browser's own while it trains, else the one its link named). Never the owner key."""
    live = f"runs/{own}/{live_folder}" if live_folder else linked_live
    return {**view.to_query(), **({"live": live} if live else {})}
