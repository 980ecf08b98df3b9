"""Command line: `python -m ganviz {train,sample,pretrain} ...`.

Bad input exits with code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ganviz.config import PRECISIONS, STRATEGIES, VARIANTS, GANConfig
from ganviz.data import SPECS
from ganviz.errors import UserError

PRETRAINED_RUNS = (  # (dataset spec, seed): what `pretrain` regenerates under pretrained/
    ("doodles:camel", 0), ("fashion-mnist", 0), ("doodles:camel", 1), ("doodles:camel", 2),
)


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _unit(zero_ok: bool):
    """Parser for a rate in (0, 1), or [0, 1) where zero means 'off'."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (0 <= value < 1 if zero_ok else 0 < value < 1):
            raise argparse.ArgumentTypeError(f"{value} must be {'at least 0' if zero_ok else 'above 0'} and below 1")
        return value
    return parse


def _format_eta(seconds: float) -> str:
    if seconds == float("inf"):
        return "--:--"
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def progress_line(trainer) -> str:
    """One status line for a running trainer: step, latest losses, images/s, ETA."""
    parts = [f"step {trainer.step}/{trainer.config.steps}"]
    for v, h in trainer.history.items():
        if h["d_loss"]:
            parts.append(f"{v}: D {h['d_loss'][-1]:.3f} G {h['g_loss'][-1]:.3f}")
    parts.append(f"{trainer.images_per_s:.0f} img/s")
    parts.append(f"ETA {_format_eta(trainer.eta_s)}")
    return " | ".join(parts)


def _print_progress(trainer) -> None:
    done = trainer.step / trainer.config.steps
    bar = "#" * int(24 * done) + "-" * (24 - int(24 * done))
    end = "\n" if trainer.step == trainer.config.steps else ""
    print(f"\r[{bar}] {progress_line(trainer)}", end=end, file=sys.stderr, flush=True)


def _print_download(done: int, total: int) -> None:
    share = done / total if total else 0
    print(f"\rdownloading {done / 2**20:6.1f} / {total / 2**20:.1f} MB [{'#' * int(24 * share):<24}]",
          end="\n" if done >= total else "", file=sys.stderr, flush=True)


def train_run(config: GANConfig, variants: tuple[str, ...], out: Path, quiet: bool = False,
              invert: bool | None = None, checkpoint_every: int = 0, resume: dict | None = None,
              strategy=None) -> list[Path]:
    """Load data, train the variants in lockstep (from a checkpoint's state if given), write a
    checkpoint every `checkpoint_every` steps, save one bundle per variant. In a multi-worker
    run every worker trains; only worker 0 keeps what it writes."""
    import shutil
    import tempfile

    from ganviz import data
    from ganviz.bundle import save_bundles, save_checkpoint
    from ganviz.distribute import is_chief
    from ganviz.training import Trainer

    dataset = data.load(config.dataset, invert=invert, progress=None if quiet else _print_download)
    chief = strategy is None or is_chief(strategy)
    final, out = out, out if chief else Path(tempfile.mkdtemp(prefix="ganviz-worker-"))

    def on_step(trainer: Trainer) -> None:
        if not quiet:
            _print_progress(trainer)
        if checkpoint_every and trainer.step % checkpoint_every == 0:
            save_checkpoint(trainer, out)

    trainer = Trainer(config, dataset.images, variants, on_step=on_step, strategy=strategy)
    if resume is not None:
        trainer.load_state(resume)
    trainer.run()
    save_checkpoint(trainer, out)
    paths = save_bundles(trainer, out, dataset.fingerprint)
    if not chief:
        shutil.rmtree(out, ignore_errors=True)
        return [final / p.name for p in paths]
    return paths


def cmd_train(args: argparse.Namespace) -> None:
    from ganviz.distribute import make_strategy
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    strategy = make_strategy(args.strategy, args.cpu_devices)
    if args.resume:
        from ganviz.bundle import load_checkpoint
        config, variants, state = load_checkpoint(args.resume)
        paths = train_run(config, variants, Path(args.resume), invert=invert,
                          checkpoint_every=args.checkpoint_every, resume=state, strategy=strategy)
    else:
        if not args.out:
            raise UsageError("python -m ganviz train: --out DIR is required (or --resume DIR)")
        variants = VARIANTS if args.variant == "both" else (args.variant,)
        config = GANConfig(dataset=args.dataset, steps=args.steps, batch_size=args.batch, seed=args.seed,
                           d_lr=args.d_lr, g_lr=args.g_lr, d_dropout=args.dropout, variant=variants[0],
                           fused_step=args.fused, precision=args.precision)
        paths = train_run(config, variants, Path(args.out), invert=invert, checkpoint_every=args.checkpoint_every,
                          strategy=strategy)
    for path in paths:
        print(path)


def cmd_sample(args: argparse.Namespace) -> None:
    from ganviz.bundle import load_bundle
    from ganviz.compare import generate
    from ganviz.data import to_uint8
    from ganviz.images import grid, save_png
    from ganviz.noise import latent_batch

    bundle = load_bundle(args.bundle)
    z = latent_batch(args.seed, args.n, bundle.config.z_dim)
    save_png(grid(to_uint8(generate(bundle.generator(), z)), scale=args.scale), args.out)
    print(args.out)


def cmd_pretrain(args: argparse.Namespace) -> None:
    config = GANConfig()
    for spec, seed in PRETRAINED_RUNS:
        out = Path(args.out) / f"{spec.replace(':', '-')}-s{seed}"
        t0 = time.time()
        train_run(config.replace(dataset=spec, seed=seed, steps=args.steps), VARIANTS, out)
        print(f"{out}: {time.time() - t0:.0f} s", flush=True)


def cmd_report(args: argparse.Namespace) -> None:
    from ganviz import data
    from ganviz.compare import compare
    from ganviz.errors import BundleError
    from ganviz.inference import NumpyGenerator
    from ganviz.report import build_report
    from ganviz.study import run_study

    bundles = _bundles_under(args.paths)
    spec = args.dataset or bundles[0].config.dataset
    chosen = [b for b in bundles if b.config.dataset == spec]
    if not chosen:
        raise BundleError(f"no bundle was trained on {spec!r}; found {sorted({b.config.dataset for b in bundles})}")
    first = [b for b in chosen if b.path.parent == chosen[0].path.parent]  # one run: its variants
    try:
        train = data.load(spec).images
    except data.DataError as exc:
        print(f"note: no nearest-neighbour panels or study ({exc})", file=sys.stderr)
        train = None
    comp = compare({b.variant: NumpyGenerator.from_bundle(b) for b in first}, train, args.seed, 16)
    study = run_study(chosen) if train is not None else None
    skipped = sorted({b.config.dataset for b in bundles} - {spec})
    notes = [f"data set {spec}; run shown: {first[0].path.parent}", f"{len(chosen)} generators in the analysis"]
    notes += [f"left out (other data sets): {', '.join(skipped)}"] if skipped else []
    Path(args.out).write_text(build_report(f"ganviz: {spec}", comp, {b.variant: b.history for b in first},
                                           train, notes, study=study))
    print(args.out)


def _bundles_under(roots: list[str], spec: str | None = None) -> list:
    """Every bundle under the given folders (or the bundles themselves), optionally of one data set."""
    from ganviz.bundle import find_bundles, load_bundle
    from ganviz.errors import BundleError
    paths = []
    for arg in map(Path, roots):
        found = [arg] if (arg / "config.json").is_file() else find_bundles(arg)
        if not found:
            raise BundleError(f"{arg}: neither a bundle nor a folder holding bundles")
        paths += found
    bundles = [load_bundle(p) for p in paths]
    return [b for b in bundles if spec is None or b.config.dataset == spec]


def cmd_recipes(args: argparse.Namespace) -> None:
    from ganviz.errors import BundleError
    from ganviz.study import compare_recipes
    a, b = _bundles_under([args.a], args.dataset), _bundles_under([args.b], args.dataset)
    if not a or not b:
        raise BundleError(f"no bundles trained on {args.dataset!r} under {args.a if not a else args.b}")
    rows = compare_recipes(a, b, (args.names[0], args.names[1]))
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")
    print(f"\n{sum(r['differs'] == 'yes' for r in rows)} of {len(rows)} measures differ beyond the 95% interval")


def cmd_figures(args: argparse.Namespace) -> None:
    from ganviz.figures import write_all
    for path in write_all(Path(args.out), Path(args.pretrained)):
        print(path)


def cmd_bench(args: argparse.Namespace) -> None:
    from ganviz.bench import main as bench_main
    bench_main(args.quick, args.json, not args.no_browser)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ganviz", description="Compare UpSampling2D+Conv2D with Conv2DTranspose "
                "generators of the book's first GAN.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = GANConfig()

    t = sub.add_parser("train", help="train one or both generator variants and write bundles")
    t.add_argument("--variant", choices=(*VARIANTS, "both"), default="both")
    t.add_argument("--steps", type=_positive, default=d.steps)
    t.add_argument("--batch", type=_positive, default=d.batch_size)
    t.add_argument("--dataset", default=d.dataset, help=SPECS)
    t.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="image files: dark strokes on white are inverted (auto: decided from the borders)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--d-lr", type=_unit(zero_ok=False), default=d.d_lr)
    t.add_argument("--g-lr", type=_unit(zero_ok=False), default=d.g_lr)
    t.add_argument("--dropout", type=_unit(zero_ok=True), default=d.d_dropout, help="discriminator dropout rate")
    t.add_argument("--fused", action="store_true", help="one generator pass per step (faster; see docs/PERFORMANCE.md)")
    t.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="mixed_bfloat16: compute in bfloat16, keep weights float32 (2.4-3x faster on CPUs with AMX)")
    t.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute: one device, all local GPUs, or the workers in TF_CONFIG (docs/SCALING.md)")
    t.add_argument("--cpu-devices", type=_positive, default=1, metavar="N",
                   help="with --strategy mirrored and no GPU: split the CPU into N devices (for testing)")
    t.add_argument("--out", help="folder for the bundles (one subfolder per variant) and the checkpoint")
    t.add_argument("--checkpoint-every", type=_positive, default=100, metavar="N",
                   help="write DIR/checkpoint.npz every N steps (atomically)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint, exactly")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="write a PNG grid of samples from a bundle")
    s.add_argument("bundle")
    s.add_argument("--n", type=_positive, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--scale", type=_positive, default=4, help="nearest-neighbour enlargement")
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=cmd_sample)

    r = sub.add_parser("pretrain", help="regenerate the bundles in pretrained/ (book recipe, several seeds)")
    r.add_argument("--out", default="pretrained")
    r.add_argument("--steps", type=_positive, default=d.steps)
    r.set_defaults(func=cmd_pretrain)

    rp = sub.add_parser("report", help="write a self-contained HTML report: samples, curves, analysis over seeds")
    rp.add_argument("paths", nargs="+", help="bundle folders, or folders holding bundles (e.g. pretrained)")
    rp.add_argument("--dataset", help="which data set's runs to report (default: the first bundle's)")
    rp.add_argument("--seed", type=int, default=0, help="sample seed for the side-by-side grids")
    rp.add_argument("--out", default="report.html")
    rp.set_defaults(func=cmd_report)

    f = sub.add_parser("figures", help="draw docs/ pictures: the doodles, and replays of the pretrained runs")
    f.add_argument("--out", default="docs")
    f.add_argument("--pretrained", default="pretrained")
    f.set_defaults(func=cmd_figures)

    rc = sub.add_parser("recipes", help="compare two training recipes run with the same seeds (e.g. --fused)")
    rc.add_argument("a", help="folder of bundles trained with the first recipe")
    rc.add_argument("b", help="folder of bundles trained with the second recipe, same seeds")
    rc.add_argument("--dataset", default=d.dataset, help="compare the runs on this data set")
    rc.add_argument("--names", nargs=2, default=("book step", "fused step"), metavar=("A", "B"))
    rc.set_defaults(func=cmd_recipes)

    b = sub.add_parser("bench", help="measure training and search speed against the book's loop and brute force")
    b.add_argument("--quick", action="store_true", help="toy sizes: proves the benchmark runs, measures nothing")
    b.add_argument("--json", help="also write the results as JSON here")
    b.add_argument("--no-browser", action="store_true", help="skip the dashboard cold-start measurement")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except (UsageError, UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0
