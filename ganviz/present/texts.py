"""The page's prose, in one place: what each section says, and its sources. app.py only
places it; the report and docs say the same things in their own words."""
from __future__ import annotations

from ganviz import data, operators
from ganviz.readable import times
from ganviz.store.live import Live

TITLE = "Upsampling vs transposed convolution in a GAN"
SUBTITLE = ("The first GAN of Foster's *Generative Deep Learning* (ch. 4), trained once per operator with the same "
            "discriminator, data order and noise: the generators differ only in how they double a feature map.")
PRECISION_HELP = (
    "float32 is the book's. mixed_bfloat16 computes the layers in bfloat16 and keeps the weights, batch-norm "
    "statistics, dropout masks, losses and optimiser in float32: faster on CPUs that multiply bfloat16 in hardware "
    "(AMX or AVX-512 bfloat16; picked first there), slower elsewhere. Over 5 seeds its training curves matched "
    "float32's; its transpose samples sat 4% nearer the training set (docs/PERFORMANCE.md).")

COMPARE_STEP_HELP = "Early steps show the fixed probe batch recorded during training: checkerboards are plainest there"


def compare_intro(n: int, seed: int, n_train: int | None, dataset: str) -> str:
    nearest = ("Below each sample: its nearest training image by L1, the book's `l1_compare_images` = mean |a - b| "
               f"on the model's [-1, 1] scale, searched exactly over all {n_train:,} training images."
               if n_train is not None else "")
    return (f"**Samples from the same {n} latent vectors z** (seed {seed}), enlarged with nearest neighbour. "
            f"Trained on {data.describe(dataset)}. {nearest}")


NEW_SAMPLES = "Draw a fresh batch of z, the same for every generator"
PROBE_SEED = "At a recorded step the page shows the run's fixed probe batch of z: pick 'final' to draw new samples."


def probe_intro(step: int) -> str:
    return (f"**The run's fixed probe batch of z at step {step}** of training, the same z for both generators "
            "(recorded while training; no nearest-neighbour search at past steps).")


def what_you_see(step: int, base: str, log_ratios: dict[str, float], n: int) -> str:
    """One sentence under the grids, computed from the run: how much checkerboard power each
    operator's images carry at this step, against the first operator's, over n images each."""
    if not log_ratios:  # one operator shown: nothing to compare it with
        return ""
    when = (f"In the final generators (over the same {n} z for every run, as Analysis measures them; not the "
            "samples shown)" if step == -1
            else f"At step {step} (over the {n} images recorded for each)")
    (first, r), *rest = log_ratios.items()
    more = "".join(f"; {operators.label(v)}'s, **{times(x)}**" for v, x in rest)
    return (f"{when}, the checkerboard power (at (pi, pi), as a share of all power) of {operators.label(first)}'s "
            f"images is **{times(r)}** {operators.label(base)}'s{more}.")


def histogram_intro(n: int) -> str:
    return (f"**Nearest-neighbour distances of {n} samples per generator** (a fixed batch of z, the same for every "
            "viewer). Near zero would mean the generator copies training images.")


CLOSER_CAPTION = ("log10 of this image's power over the mean power of real images, per frequency (red: more). "
                  "A checkerboard lights up the corners, (pi, pi).")


def analysis_intro(dataset: str, n_runs: int, seeds: list[int], n_samples: int, classifier: str) -> str:
    return (f"**Every run on `{dataset}` ({data.describe(dataset)}): {n_runs} generators, seeds {seeds}.** "
            "Each operator is compared with "
            "UpSampling2D + Conv2D seed by seed (same data order, noise and initial discriminator per seed). Its line "
            "names the early steps where its power at (pi, pi) differs, then the measures of the final generators that "
            "do: a mean paired difference whose 95% t-interval excludes zero. Every measure, with an exact sign-flip "
            f"p-value, is under it. {n_samples} samples per generator. "
            f"Quality measures on {classifier or 'no classifier (none is shipped for this data set)'}.")


RATIO_MAPS = ("**Where the power moved**: log10(P_generated / P_real) per spatial frequency, each spectrum normalised "
              "by its non-DC power. White is as real; red is more power than real images have. The corners are "
              "(pi, pi), the checkerboard; the edges are the Nyquist lines (Odena et al., Distill 2016; Durall et al., "
              "CVPR 2020; Dzanic et al., NeurIPS 2020).")
CORNER_OVER_TRAINING = "**The checkerboard over training** (power at (pi, pi) over real; 1 = as real)"
FOREST = ("**The answer at a glance**: each operator's power at the checkerboard frequency (pi, pi) over "
          "UpSampling2D + Conv2D's, seed by seed, at the recorded steps nearest 0, 50 and 200 and in the final "
          "generators: the mean ratio with its 95% interval. Solid where the interval excludes 1 (no difference); "
          "hollow and grey where the seeds do not settle it.")
PROFILES = "**Radial power over real**: where along the frequency axis each generator departs from real images."
COPYING = ("**Copying**: distances to the nearest training image, samples against real images the runs never saw. "
           "Samples much closer than new real images would mean memorised training data (Meehan et al., AISTATS 2020).")
FIGURES = {"forest": FOREST, "ratio_maps": RATIO_MAPS, "profiles": PROFILES, "corner_over_training": CORNER_OVER_TRAINING,
           "copying": COPYING}
NO_HELD_OUT = "No held-out real images for this data set, so the copying test is left out."


def interpolation_intro(seed: int) -> str:
    return (f"**Latent interpolation**: spherical path from z of seed {seed} to z of seed {seed + 1}, the same z "
            "through both generators.")


WHY = ("**UpSampling2D + Conv2D** first repeats each pixel 2x2, so the convolution sees a smooth, blocky map and every "
       "output pixel gets the same number of kernel taps. **Conv2DTranspose** (stride 2) puts zeros between the input "
       "pixels and adds one kernel footprint per input pixel; with a 5x5 kernel and stride 2 the footprints overlap "
       "unevenly (5 is not divisible by 2), so neighbouring output pixels receive 9, 6 or 4 taps. The learned weights "
       "must fight that pattern, and early in training they often don't: look for a fine checkerboard texture in the "
       "transpose column at the earliest step Compare offers (Odena, Dumoulin & Olah, [Deconvolution and "
       "Checkerboard Artifacts](https://distill.pub/2016/deconv-checkerboard/), Distill 2016).")
EVERY_OPERATOR = (
    "**Every operator, before training** (kernel 5, stride 2; the book's initialisation, ICNR for sub-pixel): how many "
    "kernel taps each output pixel receives, and what the first doubling layer paints from a flat input. Only a "
    "transposed convolution whose kernel the stride does not divide gets uneven tap counts (a binomial blur after it "
    "mixes the four phases: every pixel gets their weighted mean, 6.25). But an even count is not "
    "a flat picture: Conv2DTranspose with kernel 4 gives each of the four output phases its own 4 of the 16 taps, so "
    "its untrained response alternates more strongly than kernel 5's; only training (or an initialisation like "
    "ICNR, which makes the phases equal) evens it out. Sub-pixel with ICNR, and both upsampling + convolution "
    "layers, start flat; but a flat start is not a flat finish: on every pretrained camel seed, training had given "
    "sub-pixel hundreds of times the power of UpSampling2D + Conv2D at (pi, pi) by step 45, and its final "
    "generators still carry more (Analysis has the numbers).")
SAME_MAP = "**The same 4x4 map through both operators** (a diagonal stroke; averaging kernel):"


def trained_weights(run: str) -> str:
    return (f"**What the trained weights paint** (run `{run}`): the first upsampling layer of each generator given a "
            "flat 7x7 input, averaged over its output channels. Nearest upsampling gives a flat interior; a transposed "
            "convolution repeats its uneven overlap every 2 pixels.")


def overlap_verdict(high: int, low: int, stride: int) -> str:
    if high == low:
        return ("Even: no checkerboard from the overlap itself. Learned weights can still differ from phase to "
                "phase and paint one: Analysis measures what kernel 4 does after training.")
    return f"Uneven: {high} vs {low} taps, a period-{stride} pattern."


def run_timing(metas: dict[str, dict]) -> str:
    return " · ".join(f"{v}: {m['steps_done']} steps, {m['wall_time_s']:.0f} s, {m['steps_per_s']:.2f} steps/s "
                      f"(trained with {'+'.join(m['trained_together'])})" for v, m in metas.items())


POLARITY = {"auto": "detect", "yes": "invert", "no": "keep as is"}
SHARE = ("Anyone with this link sees this view: the run, the samples' seed, the step and the section, and your live "
         "training's progress while it runs. It gives no control: pausing, stopping, training and uploading stay "
         "with this browser, whose key is kept in a cookie, never in a link. The address bar holds the same link.")
WATCHING = ("You are watching a training from a shared link: progress only. Only the browser that started it can "
            "pause or stop it.")


def queued(position: int, why: str) -> str:
    return (f"Queued: place {position}, {why}. Yours starts by itself, as long as this page stays open.")


def job_status(state: str, error: str, live: Live | None, position: int) -> str:
    """The sidebar's one line about this browser's training, on every section."""
    if state == "queued":
        return f"Training queued: place {position}"
    if live is None:
        return f"Training: {error}" if error else "Training: starting ..."
    if state == "done":
        return f"Training {live.status}" + (f": {error}" if error else "")
    return f"Training: step {live.step}/{live.steps} ({live.status})"
