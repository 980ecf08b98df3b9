"""Quick Draw "numpy bitmap" files: the book's real data, fetched once and kept.

One .npy file per category, (N, 784) uint8, at
  https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/<category>.npy
(Jongejan et al., The Quick, Draw! data set, Google, CC BY 4.0). Downloads resume after an
interruption (HTTP Range), land in the user's cache folder, and are checked against their
own .npy header (shape, dtype, byte count) before use.
"""
from __future__ import annotations

import difflib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np

from ganviz.errors import DataError

BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap"  # GANVIZ_QUICKDRAW_URL overrides
CHUNK = 1 << 20

# The 345 categories of the data set (its categories.txt).
CATEGORIES = tuple("""aircraft carrier|airplane|alarm clock|ambulance|angel|animal migration|ant|anvil|apple|arm|
asparagus|axe|backpack|banana|bandage|barn|baseball|baseball bat|basket|basketball|bat|bathtub|beach|bear|beard|bed|
bee|belt|bench|bicycle|binoculars|bird|birthday cake|blackberry|blueberry|book|boomerang|bottlecap|bowtie|bracelet|
brain|bread|bridge|broccoli|broom|bucket|bulldozer|bus|bush|butterfly|cactus|cake|calculator|calendar|camel|camera|
camouflage|campfire|candle|cannon|canoe|car|carrot|castle|cat|ceiling fan|cell phone|cello|chair|chandelier|church|
circle|clarinet|clock|cloud|coffee cup|compass|computer|cookie|cooler|couch|cow|crab|crayon|crocodile|crown|
cruise ship|cup|diamond|dishwasher|diving board|dog|dolphin|donut|door|dragon|dresser|drill|drums|duck|dumbbell|ear|
elbow|elephant|envelope|eraser|eye|eyeglasses|face|fan|feather|fence|finger|fire hydrant|fireplace|firetruck|fish|
flamingo|flashlight|flip flops|floor lamp|flower|flying saucer|foot|fork|frog|frying pan|garden|garden hose|giraffe|
goatee|golf club|grapes|grass|guitar|hamburger|hammer|hand|harp|hat|headphones|hedgehog|helicopter|helmet|hexagon|
hockey puck|hockey stick|horse|hospital|hot air balloon|hot dog|hot tub|hourglass|house|house plant|hurricane|
ice cream|jacket|jail|kangaroo|key|keyboard|knee|knife|ladder|lantern|laptop|leaf|leg|light bulb|lighter|lighthouse|
lightning|line|lion|lipstick|lobster|lollipop|mailbox|map|marker|matches|megaphone|mermaid|microphone|microwave|
monkey|moon|mosquito|motorbike|mountain|mouse|moustache|mouth|mug|mushroom|nail|necklace|nose|ocean|octagon|octopus|
onion|oven|owl|paint can|paintbrush|palm tree|panda|pants|paper clip|parachute|parrot|passport|peanut|pear|peas|
pencil|penguin|piano|pickup truck|picture frame|pig|pillow|pineapple|pizza|pliers|police car|pond|pool|popsicle|
postcard|potato|power outlet|purse|rabbit|raccoon|radio|rain|rainbow|rake|remote control|rhinoceros|rifle|river|
roller coaster|rollerskates|sailboat|sandwich|saw|saxophone|school bus|scissors|scorpion|screwdriver|sea turtle|
see saw|shark|sheep|shoe|shorts|shovel|sink|skateboard|skull|skyscraper|sleeping bag|smiley face|snail|snake|
snorkel|snowflake|snowman|soccer ball|sock|speedboat|spider|spoon|spreadsheet|square|squiggle|squirrel|stairs|star|
steak|stereo|stethoscope|stitches|stop sign|stove|strawberry|streetlight|string bean|submarine|suitcase|sun|swan|
sweater|swing set|sword|syringe|t-shirt|table|teapot|teddy-bear|telephone|television|tennis racquet|tent|
The Eiffel Tower|The Great Wall of China|The Mona Lisa|tiger|toaster|toe|toilet|tooth|toothbrush|toothpaste|tornado|
tractor|traffic light|train|tree|triangle|trombone|truck|trumpet|umbrella|underwear|van|vase|violin|
washing machine|watermelon|waterslide|whale|wheel|windmill|wine bottle|wine glass|wristwatch|yoga|zebra|zigzag"""
                   .replace("\n", "").split("|"))

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def check_category(name: str) -> str:
    """The official spelling of a category, or an error naming the closest ones."""
    by_lower = {c.lower(): c for c in CATEGORIES}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_lower[c] for c in close)}?" if close else \
        f"; there are {len(CATEGORIES)} categories, e.g. camel, cat, house"
    raise DataError(f"unknown Quick Draw category {name!r}{hint}")


def url_for(category: str) -> str:
    return f"{os.environ.get('GANVIZ_QUICKDRAW_URL', BASE_URL)}/{urllib.parse.quote(category)}.npy"


def verify_npy(path: Path) -> tuple[int, int]:
    """Check a numpy-bitmap file against its own header; return (drawings, header bytes)."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)  # reads no data, unpickles nothing
            offset = fh.tell()
    except Exception as exc:
        raise DataError(f"{path}: not a .npy file ({exc})") from None
    if dtype != np.uint8 or len(shape) != 2 or shape[1] != 784 or fortran:
        raise DataError(f"{path}: holds {dtype} {shape}, a Quick Draw bitmap file holds uint8 (N, 784)")
    if path.stat().st_size != offset + shape[0] * 784:
        raise DataError(f"{path}: {path.stat().st_size} bytes, its header promises {offset + shape[0] * 784}")
    return shape[0], offset


def download(category: str, cache: Path, progress: Progress | None = None, timeout: float = 30) -> Path:
    """The category's file in the cache, downloading (or resuming) it when needed."""
    category = check_category(category)
    final = cache / "quickdraw" / f"{category}.npy"
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_suffix(".npy.part")
    url = url_for(category)
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if done and response.status != 206:  # the server ignored Range: start again
                done = 0
            total = done + int(response.headers.get("Content-Length", 0))
            with open(part, "ab" if done else "wb") as fh:
                while block := response.read(CHUNK):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            if done < total:  # the connection closed early without an error
                raise http.client.IncompleteRead(b"", total - done)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # offline, refused, cut off
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise DataError(f"could not download {url} ({reason}); {done:,} bytes kept in {part}, the next try "
                        f"resumes; offline, download that file yourself and save it as {final}") from None
    try:
        verify_npy(part)
    except DataError as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"downloaded file is damaged and was removed, try again: {exc}") from None
    os.replace(part, final)
    return final
