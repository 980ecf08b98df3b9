"""Command line: `ganviz` (or `python -m ganviz`) train, sample, study, pretrain, report, ...

Bad input exits with code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ganviz import gan, operators
from ganviz.config import (BOOK_PAIR, CHECKPOINT_EVERY, CHECKPOINT_SECONDS, CLASSIFIED, MAX_BATCH, MAX_SEED, PRECISIONS,
                           STRATEGIES, GANConfig)
from ganviz.data import SPECS
from ganviz.errors import Diverged, UserError
from ganviz.runner import format_duration

PRETRAINED = (  # (data set spec, variants, seeds): the studies `pretrain` regenerates under pretrained/, in order
    ("doodles:camel", BOOK_PAIR, range(10)),
    ("fashion-mnist", BOOK_PAIR, range(5)),
    ("doodles:camel", tuple(n for n in operators.names() if n not in BOOK_PAIR), range(5)),  # paired with it by seed
)


MEASURE_HELP = ("latent vectors whose images' mean power spectrum is recorded at every timeline frame "
                "(default %(default)s; fewer: faster, noisier)")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _whole(least: int = 1, most: int | None = None):
    """Parser for a whole number from `least` to `most` (a batch or a picture that fits in memory, a seed)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{value} must be from {least} to {most}" if most is not None
                                             else f"{value} must be at least {least}")
        return value
    return parse


def _parallel(text: str) -> str:
    if text != "auto":
        _whole(1, 64)(text)
    return text


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


def progress_line(trainer) -> str:
    """One status line for a running trainer: step, latest losses, images/s, ETA."""
    parts = [f"step {trainer.step}/{trainer.config.steps}"]
    for v, h in trainer.history.items():
        if h["d_loss"]:
            parts.append(f"{v}: D {h['d_loss'][-1]:.3f} G {h['g_loss'][-1]:.3f}")
    parts.append(f"{trainer.images_per_s:.0f} img/s")
    parts.append(f"ETA {format_duration(trainer.eta_s)}")
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


def _writes_files(strategy: str) -> bool:
    """Whether this process keeps the run's files: all but workers 1, 2, ... of a multi-worker
    run (read from TF_CONFIG, before TensorFlow is imported; the strategy checks it again)."""
    if strategy != "multiworker":
        return True
    try:
        return int(json.loads(os.environ["TF_CONFIG"])["task"]["index"]) == 0
    except (KeyError, ValueError, TypeError):
        return True


def cmd_train(args: argparse.Namespace) -> None:
    """Check the data (and the checkpoint) first, in NumPy, so bad input is refused before the
    seconds-long TensorFlow import; then train through the one run orchestrator.

    With --live (how the dashboard runs every training, in a process of its own) progress goes
    to the run folder's live.npz and pause / resume / stop come as lines on stdin."""
    from ganviz import data, runner
    from ganviz.store.bundle import load_run, save_run_file
    if args.nice:
        os.nice(args.nice)
    progress = None if args.quiet or args.live else _print_download
    invert = data.INVERT[args.invert]
    if args.resume:
        out = Path(args.resume)
        config, variants, trained_on, state = load_run(out)
        dataset = data.load_matching(config.dataset, invert, trained_on, progress)
    else:
        if not args.out:
            raise UsageError("python -m ganviz train: --out DIR is required (or --resume DIR)")
        out, state = Path(args.out), None
        variants = {"both": BOOK_PAIR, "all": operators.names()}.get(args.variant, (args.variant,))
        config = GANConfig(dataset=args.dataset, steps=args.steps, batch_size=args.batch, seed=args.seed,
                           d_lr=args.d_lr, g_lr=args.g_lr, d_dropout=args.dropout,
                           fused_step=args.fused, precision=args.precision, measure_size=args.measure_size)
        dataset = data.load(config.dataset, invert=invert, progress=progress)
    lock = runner.lock_run(out) if _writes_files(args.strategy) else None
    try:
        if lock:
            save_run_file(out, config, variants, dataset.fingerprint)
        _train(args, out, config, variants, dataset.images, state)
    finally:
        if lock:
            (out / runner.LOCK).unlink(missing_ok=True)
            lock.close()


def _train(args: argparse.Namespace, out: Path, config: GANConfig, variants: tuple[str, ...], images: np.ndarray,
           state: dict | None) -> None:
    """Start or resume the run in `out` and train it to its end, printing its bundles' paths."""
    from ganviz.store.live import LiveWriter, obey
    gan.import_tensorflow(args.verbose)
    from ganviz.gan import run
    from ganviz.gan.distribute import make_strategy
    strategy = make_strategy(args.strategy, args.cpu_devices)
    live = LiveWriter(out) if args.live else None
    hook = live or (None if args.quiet else _print_progress)
    trainer = (run.restore(config, variants, state, images, hook, strategy) if state is not None
               else run.start(config, variants, images, out, hook, strategy))
    if live:
        live.write(trainer)
        obey(trainer, sys.stdin, live)
    try:
        paths = run.train(trainer, out, strategy, every=args.checkpoint_every)
    finally:
        if live:
            live.write(trainer)
    for path in paths:
        print(path)


def cmd_sample(args: argparse.Namespace) -> None:
    from ganviz.data import to_uint8
    from ganviz.noise import latent_batch
    from ganviz.present.images import grid, save_png
    from ganviz.store.bundle import load_bundle
    from ganviz.view.compare import generate
    from ganviz.view.inference import NumpyGenerator

    bundle = load_bundle(args.bundle)
    generator = NumpyGenerator.from_bundle(bundle)  # its weights checked against the config first
    z = latent_batch(args.seed, args.n, bundle.config.z_dim)
    save_png(grid(to_uint8(generate(generator, z)), scale=args.scale), args.out)
    print(args.out)


def _run_study(studies: list[tuple[GANConfig, tuple[str, ...], list[int]]], args: argparse.Namespace,
               slim: bool) -> list[str]:
    """Train the missing runs of one or more studies (config, variants, seeds: one run per seed,
    its variants in lockstep) under args.out, `args.parallel` at once, in one queue; returns the
    runs that failed. One code path for `study` and `pretrain`."""
    from ganviz import runner
    out, jobs = Path(args.out), []
    for config, variants, seeds in studies:
        todo, done = runner.plan(config, variants, seeds, out, args.force)
        jobs += todo
        if done and not args.quiet:
            print(f"{', '.join(done)} ({', '.join(variants)}): done already; --force retrains them", flush=True)
        for name in done if slim else ():
            _slim(out / name, variants)
    if not jobs:
        return []
    at_once = runner.auto_parallel() if args.parallel == "auto" else int(args.parallel)
    threads = args.threads or runner.threads_per_run(at_once)  # the same for every run, however many are left
    finish = _slim if slim else None
    if min(len(jobs), at_once) > 1:
        def child(job: runner.Job) -> list[str]:  # one seed's run, as its own unsharded study
            return runner.child_command(
                ["study", "--dataset", job.config.dataset, "--variants", ",".join(job.variants),
                 "--seeds", str(job.config.seed), "--steps", str(job.config.steps), "--precision", job.config.precision,
                 "--measure-size", str(job.config.measure_size), "--batch", str(job.config.batch_size),
                 "--out", args.out, "--parallel", "1", "--shard", "0/1", "--threads", str(threads), "--quiet",
                 "--no-verdicts", *(["--force"] * args.force), *(["--slim"] * slim)])
        return runner.run_parallel(jobs, child, min(len(jobs), at_once), lambda line: print(line, flush=True),
                                   args.force)
    gan.import_tensorflow(args.verbose, threads)
    progress, failed = runner.Progress(jobs, args.force), []
    hook = None if args.quiet or not sys.stderr.isatty() else _print_progress
    for job in jobs:
        t0 = time.time()
        if not args.quiet:
            at = 0 if args.force else runner.steps_done(job)
            print(progress.line(job, f"resuming at step {at}" if at else "started"), flush=True)
        try:
            how = runner.train_job(job, args.force, finish, hook)
        except (Diverged, runner.Busy) as exc:  # the other seeds go on; a rerun resumes this one
            print(progress.line(job, f"failed: {exc}"), flush=True)
            failed.append(job.name)
            continue
        progress.finish(job)
        print(how if args.quiet else progress.line(job, f"done in {runner.format_duration(time.time() - t0)} ({how})"),
              flush=True)
    return failed


def _none_failed(failed: list[str], rerun: str) -> None:
    """One line naming the runs that failed, if any, and how to resume them."""
    if failed:
        raise UserError(f"{len(failed)} run{'s' * (len(failed) > 1)} failed ({', '.join(failed)}); "
                        f"{rerun} to resume them")


def cmd_study(args: argparse.Namespace) -> None:
    """A paired multi-seed comparison on any data set: every variant of each seed in lockstep,
    resumable, sharded over processes or machines; then the paired verdicts over every finished seed."""
    from ganviz import data, runner
    variants = runner.parse_variants(args.variants)
    seeds = runner.parse_seeds(args.seeds)
    index, count = runner.parse_shard(args.shard, dict(os.environ), args.shard_count)
    mine = seeds[index::count]
    if not mine:
        raise UsageError(f"shard {index}/{count} has no seeds of {args.seeds!r} ({len(seeds)} seeds)")
    config = GANConfig(dataset=args.dataset, steps=args.steps, precision=args.precision,
                       measure_size=args.measure_size, batch_size=args.batch)
    data.load(args.dataset, progress=None if args.quiet else _print_download)  # bad specs fail here, in one line
    _none_failed(_run_study([(config, variants, mine)], args, args.slim), "rerun the same command")
    if not args.no_verdicts:
        store_measures(Path(args.out), args.dataset)
    if not args.no_verdicts and len(variants) > 1:
        cmd_report(argparse.Namespace(paths=[args.out], dataset=args.dataset, seed=0, json=None,
                                      out=str(Path(args.out) / "report.html")))


def store_measures(out: Path, spec: str) -> Path | None:
    """Measure the study's runs on `spec` that its stored measures lack, and keep them all beside
    the runs: the page's Analysis and `report` then open without measuring."""
    from ganviz.data import slug
    from ganviz.measures.study import STORE, bundle_key, load_all_measures, run_study, save_measures
    bundles = _bundles_under([str(out)], spec)
    if not bundles:
        return None
    stored = load_all_measures(out).get(spec)
    if stored is not None and set(stored.runs) == {bundle_key(b) for b in bundles}:
        return out / STORE.format(slug(spec))  # nothing new to measure: the file stays as it is
    return save_measures(out, run_study(bundles, stored=stored), bundles)


def cmd_pretrain(args: argparse.Namespace) -> None:
    """The shipped studies under pretrained/ (the book's recipe): train what is missing, resume
    what was cut off, and make every finished bundle slim: the discriminator only serves further
    training, and dropping it, and storing the generator in float16, keeps pretrained/ small
    enough to ship."""
    base = GANConfig(steps=args.steps, measure_size=args.measure_size)
    failed = _run_study([(base.replace(dataset=spec), variants, list(seeds)) for spec, variants, seeds in PRETRAINED],
                        args, slim=True)
    for spec in dict.fromkeys(spec for spec, _, _ in PRETRAINED):
        print(store_measures(Path(args.out), spec), flush=True)
    _none_failed(failed, "rerun pretrain")


def _slim(out: Path, variants: tuple[str, ...]) -> None:
    """A pretrained run as shipped: no discriminator, the generator's weights in float16."""
    from ganviz.store.bundle import DISCRIMINATOR, GENERATOR, halve_weights
    for v in variants:
        (out / v / DISCRIMINATOR).unlink(missing_ok=True)
        halve_weights(out / v / GENERATOR)


def cmd_classifier(args: argparse.Namespace) -> None:
    if unknown := [n for n in args.names if n not in CLASSIFIED]:
        raise UsageError(f"no classifier recipe for {', '.join(map(repr, unknown))}; accepted: {', '.join(CLASSIFIED)}")
    gan.import_tensorflow(args.verbose)
    from ganviz.gan.classifier import train_classifier
    for name in args.names:
        t0 = time.time()
        meta = train_classifier(name, Path(args.out), epochs=args.epochs)
        print(f"{Path(args.out) / name}: held-out accuracy {meta['accuracy']:.4f} on {meta['held_out_images']:,} "
              f"images ({time.time() - t0:.0f} s)", flush=True)


def cmd_report(args: argparse.Namespace) -> None:
    """The paired verdicts over every seed found, printed; the self-contained HTML report; and
    with --json the table behind the verdicts."""
    from ganviz import data
    from ganviz.errors import BundleError
    from ganviz.measures.study import load_all_measures, run_study, verdict_table
    from ganviz.present.report import run_report
    from ganviz.present.verdicts import plain, sections
    from ganviz.view.compare import compare
    from ganviz.view.inference import NumpyGenerator

    bundles = _bundles_under(args.paths)
    spec = args.dataset or bundles[0].config.dataset
    chosen = [b for b in bundles if b.config.dataset == spec]
    if not chosen:
        raise BundleError(f"no bundle was trained on {spec!r}; found {sorted({b.config.dataset for b in bundles})}")
    first = [b for b in chosen if b.path.parent == chosen[0].path.parent]  # one run: its variants
    try:
        train = data.load(spec).images
    except data.DataError as exc:
        print(f"note: no nearest-neighbour panels ({exc})", file=sys.stderr)
        train = None
    first.sort(key=lambda b: operators.order(b.variant))
    comp = compare({b.variant: NumpyGenerator.from_bundle(b) for b in first}, train, args.seed, 16)
    stored = {}
    for folder in (Path(p) for p in args.paths if Path(p).is_dir()):
        stored.update(load_all_measures(folder))
    try:  # measures stored beside the runs need no training images
        study = run_study(chosen, stored=stored.get(spec))
    except data.DataError as exc:
        print(f"note: no analysis over seeds ({exc})", file=sys.stderr)
        study = None
    if study is not None:
        for _, headline, _ in sections(study):
            print(plain(headline))
        if args.json:
            Path(args.json).write_text(json.dumps(verdict_table(study), indent=1))
    skipped = sorted({b.config.dataset for b in bundles} - {spec})
    notes = [f"data set {spec}: {data.describe(spec)}; run shown: {first[0].path.parent}", f"{len(chosen)} generators in the analysis"]
    notes += [f"left out (other data sets): {', '.join(skipped)}"] if skipped else []
    Path(args.out).write_text(run_report(f"ganviz: {spec}", {b.variant: b for b in first}, comp, train, notes, study))
    print(args.out)
    if args.json and study is not None:
        print(args.json)


def _bundles_under(roots: list[str], spec: str | None = None) -> list:
    """Every bundle under the given folders (or the bundles themselves), optionally of one data set."""
    from ganviz.errors import BundleError
    from ganviz.store.bundle import find_bundles, load_bundle
    paths = []
    for arg in map(Path, roots):
        found = [arg] if (arg / "config.json").is_file() else find_bundles(arg)
        if not found:
            raise BundleError(f"{arg}: neither a bundle nor a folder holding bundles")
        paths += found
    unique = {}  # a bundle named twice counts once; it keeps the path it was first named by
    for path in paths:
        unique.setdefault(path.resolve(), path)
    bundles = [load_bundle(p) for p in unique.values()]
    return [b for b in bundles if spec is None or b.config.dataset == spec]


def cmd_recipes(args: argparse.Namespace) -> None:
    from ganviz.errors import BundleError
    from ganviz.measures.study import compare_recipes
    a, b = _bundles_under([args.a], args.dataset), _bundles_under([args.b], args.dataset)
    if not a or not b:
        raise BundleError(f"no bundles trained on {args.dataset!r} under {args.a if not a else args.b}")
    rows = compare_recipes(a, b, (args.names[0], args.names[1]))
    if not rows:
        raise BundleError(f"{args.a} and {args.b} share no seed of any variant: a paired comparison needs the "
                          "same seeds trained with both recipes")
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")
    print(f"\n{sum(r['differs'] == 'yes' for r in rows)} of {len(rows)} measures differ beyond the 95% interval")


def cmd_figures(args: argparse.Namespace) -> None:
    if not Path(args.pretrained).is_dir():
        raise UsageError(f"ganviz figures: --pretrained {args.pretrained}: not a folder; give the folder of the "
                         "pretrained runs (default: pretrained)")
    from ganviz.store.bundle import find_bundles, load_bundle
    from ganviz_tools.figures import write_all
    for spec in sorted({load_bundle(p).config.dataset for p in find_bundles(args.pretrained)}):
        print(store_measures(Path(args.pretrained), spec), flush=True)  # what the page and the report read
    for path in write_all(Path(args.out), Path(args.pretrained)):
        print(path)


def cmd_bench(args: argparse.Namespace) -> None:
    gan.import_tensorflow(args.verbose)
    from ganviz_tools.bench import main as bench_main
    bench_main(args.quick, args.json, not args.no_browser, args.operators, args.viewer, args.layers, args.cli)


def cmd_load(args: argparse.Namespace) -> None:
    from ganviz_tools.load import main as load_main
    load_main(args.viewers, args.trainings, args.json, args.steps, args.client)


def _train_parser(sub: argparse._SubParsersAction, d: GANConfig, loud: argparse.ArgumentParser) -> None:
    t = sub.add_parser("train", parents=[loud], help="train one operator, the book's pair or every operator in lockstep, and write bundles")
    t.add_argument("--variant", choices=(*operators.names(), "both", "all"), default="both",
                   help=f"both: the book's pair ({', '.join(BOOK_PAIR)}); all: every operator, in lockstep")
    t.add_argument("--steps", type=_whole(), default=d.steps)
    t.add_argument("--batch", type=_whole(1, MAX_BATCH), default=d.batch_size, help=f"images per step (1-{MAX_BATCH})")
    t.add_argument("--dataset", default=d.dataset, help=SPECS)
    t.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="image files: dark strokes on white are inverted (auto: decided from the borders)")
    t.add_argument("--seed", type=_whole(0, MAX_SEED), default=d.seed)
    t.add_argument("--d-lr", type=_unit(zero_ok=False), default=d.d_lr)
    t.add_argument("--g-lr", type=_unit(zero_ok=False), default=d.g_lr)
    t.add_argument("--dropout", type=_unit(zero_ok=True), default=d.d_dropout, help="discriminator dropout rate")
    t.add_argument("--measure-size", type=_whole(), default=d.measure_size, metavar="N",
                   help=MEASURE_HELP)
    t.add_argument("--fused", action="store_true", help="one generator pass per step (faster; see docs/PERFORMANCE.md)")
    t.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="mixed_bfloat16: compute in bfloat16, keep weights float32 (2.4-3x faster on CPUs with AMX)")
    t.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute: one device, all local GPUs, or the workers in TF_CONFIG (docs/SCALING.md)")
    t.add_argument("--cpu-devices", type=_whole(), default=1, metavar="N",
                   help="with --strategy mirrored and no GPU: split the CPU into N devices (for testing)")
    t.add_argument("--out", help="folder for the bundles (one subfolder per variant) and the checkpoint")
    t.add_argument("--checkpoint-every", type=_whole(), default=None, metavar="N",
                   help=f"write DIR/checkpoint.npz every N steps (default {CHECKPOINT_EVERY}) and at least every {CHECKPOINT_SECONDS:g} s "
                        "(atomically; also once before the first step)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint, exactly")
    t.add_argument("--live", action="store_true", help="for the dashboard, which trains in processes like this: "
                   "progress to DIR/live.npz, pause/resume/stop as lines on stdin, stop when stdin ends")
    t.add_argument("--nice", type=_whole(0, 19), default=0, metavar="N", help="lower this process's CPU priority by N")
    t.set_defaults(func=cmd_train)


def _sample_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample", help="write a PNG grid of samples from a bundle")
    s.add_argument("bundle")
    s.add_argument("--n", type=_whole(1, 1024), default=16, help="how many samples (1-1024)")
    s.add_argument("--seed", type=_whole(0, MAX_SEED), default=0)
    s.add_argument("--scale", type=_whole(1, 16), default=4, help="nearest-neighbour enlargement (1-16)")
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=cmd_sample)


def _study_parser(sub: argparse._SubParsersAction, d: GANConfig, loud: argparse.ArgumentParser, studying: argparse.ArgumentParser) -> None:
    st = sub.add_parser("study", parents=[loud, studying],
                        help="a paired multi-seed comparison of operators on any data set, resumable and sharded")
    st.add_argument("--dataset", default=d.dataset, help=SPECS)
    st.add_argument("--variants", default=",".join(BOOK_PAIR),
                    help=f"comma-separated operators, or all (default %(default)s; from {', '.join(operators.names())})")
    st.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-9, 3 or 0,2,5-7 (default %(default)s)")
    st.add_argument("--steps", type=_whole(), default=d.steps, help="steps per run (default: the book's %(default)s)")
    st.add_argument("--batch", type=_whole(1, MAX_BATCH), default=d.batch_size, help=f"images per step (1-{MAX_BATCH})")
    st.add_argument("--precision", choices=PRECISIONS, default=d.precision, help="(default: the book's %(default)s)")
    st.add_argument("--measure-size", type=_whole(), default=d.measure_size, metavar="N", help=MEASURE_HELP)
    st.add_argument("--out", required=True, help="the study's folder: one subfolder per seed, one bundle per variant")
    st.add_argument("--shard", metavar="I/N", help="train every N-th seed from index I (a job array's task; default: "
                    "from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX, else all)")
    st.add_argument("--shard-count", type=_whole(), metavar="N", help="with JOB_COMPLETION_INDEX (a Kubernetes "
                    "Indexed Job): the number of shards, the Job's completions")
    st.add_argument("--no-verdicts", action="store_true",
                    help="skip measuring the runs and the paired verdicts at the end (a shard of a larger study)")
    st.add_argument("--slim", action="store_true", help=argparse.SUPPRESS)  # pretrain's children
    st.set_defaults(func=cmd_study)


def _pretrain_parser(sub: argparse._SubParsersAction, d: GANConfig, loud: argparse.ArgumentParser, studying: argparse.ArgumentParser) -> None:
    r = sub.add_parser("pretrain", parents=[loud, studying],
                       help="regenerate the studies in pretrained/ (the book's recipe: the book's pair on camel "
                            "seeds 0-9 and Fashion-MNIST seeds 0-4, the other operators on camel seeds 0-4)")
    r.add_argument("--out", default="pretrained", help="folder of the runs, one subfolder per data set and seed")
    r.add_argument("--steps", type=_whole(), default=d.steps, help="steps per run (default: the book's %(default)s)")
    r.add_argument("--measure-size", type=_whole(), default=d.measure_size, metavar="N", help=MEASURE_HELP)
    r.set_defaults(func=cmd_pretrain)


def _classifier_parser(sub: argparse._SubParsersAction, loud: argparse.ArgumentParser) -> None:
    c = sub.add_parser("classifier", parents=[loud],
                       help="train the small classifiers whose features KID, FD and precision/recall use")
    c.add_argument("names", nargs="*", default=list(CLASSIFIED), metavar="NAME",
                   help=f"{' and/or '.join(CLASSIFIED)} (default: all)")
    c.add_argument("--out", default="pretrained/classifiers")
    c.add_argument("--epochs", type=_whole(), default=3)
    c.set_defaults(func=cmd_classifier)


def _report_parser(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser("report", help="write a self-contained HTML report: samples, curves, analysis over seeds")
    rp.add_argument("paths", nargs="+", help="bundle folders, or folders holding bundles (e.g. pretrained)")
    rp.add_argument("--dataset", help="which data set's runs to report (default: the first bundle's)")
    rp.add_argument("--seed", type=_whole(0, MAX_SEED), default=0, help="sample seed for the side-by-side grids")
    rp.add_argument("--out", "--html", default="report.html", metavar="PATH",
                    help="where the HTML report goes (default: report.html here)")
    rp.add_argument("--json", metavar="PATH", help="also write the table behind the paired verdicts here (JSON)")
    rp.set_defaults(func=cmd_report)


def _figures_parser(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("figures", help="draw docs/ pictures: the doodles, and replays of the pretrained runs")
    f.add_argument("--out", default="docs")
    f.add_argument("--pretrained", default="pretrained")
    f.set_defaults(func=cmd_figures)


def _recipes_parser(sub: argparse._SubParsersAction, d: GANConfig) -> None:
    rc = sub.add_parser("recipes", help="compare two training recipes run with the same seeds (e.g. --fused)")
    rc.add_argument("a", help="folder of bundles trained with the first recipe")
    rc.add_argument("b", help="folder of bundles trained with the second recipe, same seeds")
    rc.add_argument("--dataset", default=d.dataset, help="compare the runs on this data set")
    rc.add_argument("--names", nargs=2, default=("book step", "fused step"), metavar=("A", "B"))
    rc.set_defaults(func=cmd_recipes)


def _bench_parser(sub: argparse._SubParsersAction, loud: argparse.ArgumentParser) -> None:
    b = sub.add_parser("bench", parents=[loud], help="measure training and search speed against the book's loop and brute force")
    b.add_argument("--quick", action="store_true", help="toy sizes, one variant: proves the benchmark runs, measures nothing")
    b.add_argument("--json", help="also write the results as JSON here")
    b.add_argument("--no-browser", action="store_true", help="skip the dashboard cold-start measurement")
    b.add_argument("--operators", action="store_true", help="only the table of every doubling operator (minutes)")
    b.add_argument("--cli", action="store_true",
                   help="only whole `ganviz train` runs of 10 and 60 steps against the book's loop (minutes)")
    b.add_argument("--layers", action="store_true",
                   help="only each operator's doubling layer alone, forward + backward (a minute)")
    b.add_argument("--viewer", action="store_true",
                   help="only the dashboard viewer: images/s and GFLOP/s against NumPy's matmul peak (seconds)")
    b.set_defaults(func=cmd_bench)


def _load_parser(sub: argparse._SubParsersAction) -> None:
    ld = sub.add_parser("load", help="many viewers at once, trainings in a row, against one dashboard server "
                        "(times, server CPU and memory)")
    ld.add_argument("--viewers", type=_whole(0), default=10, metavar="N", help="viewers opening the page at once (0: skip)")
    ld.add_argument("--client", choices=("ws", "browser"), default="ws",
                    help="ws: Streamlit's websocket protocol, as the page speaks it (light on the machine); "
                    "browser: a headless Chromium context each")
    ld.add_argument("--trainings", type=_whole(0), default=0, metavar="N", help="30-step trainings in a row (0: skip)")
    ld.add_argument("--steps", type=_whole(), default=30, help="steps of each training (default 30)")
    ld.add_argument("--json", help="also write the results as JSON here")
    ld.set_defaults(func=cmd_load)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganviz", description="Compare how generators of the book's first GAN grow a feature map: "
                "UpSampling2D + Conv2D, Conv2DTranspose and the fixes, paired by seed.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = GANConfig()
    loud = _Parser(add_help=False)  # for the commands that load TensorFlow
    loud.add_argument("--verbose", action="store_true",
                      help="show TensorFlow's start-up logs (hidden by default; also GANVIZ_VERBOSE=1)")
    studying = _Parser(add_help=False)  # study and pretrain
    studying.add_argument("--parallel", default="auto", type=_parallel,
                          help="runs at once, each on its share of the cores: auto (one per core, as many as fit "
                               "in memory) or a number (default %(default)s)")
    studying.add_argument("--threads", type=_whole(), default=None, help=argparse.SUPPRESS)
    studying.add_argument("--force", action="store_true", help="retrain runs that are already there, "
                          "or that hold another recipe")
    studying.add_argument("--quiet", action="store_true", help="one line per run only (for logs)")
    _train_parser(sub, d, loud)
    _sample_parser(sub)
    _study_parser(sub, d, loud, studying)
    _pretrain_parser(sub, d, loud, studying)
    _classifier_parser(sub, loud)
    _report_parser(sub)
    _figures_parser(sub)
    _recipes_parser(sub, d)
    _bench_parser(sub, loud)
    _load_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except (UsageError, UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that is not there, a full disk, no permission: one line, no traceback
        print(f"error: {exc.filename}: {exc.strerror}" if exc.filename else f"error: {exc}", file=sys.stderr)
        return 2
    except Diverged as exc:  # one line; the bundles of the last good state are written
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0
