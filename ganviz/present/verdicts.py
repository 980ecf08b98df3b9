"""The paired verdicts in words: one headline per operator, a sentence per measure, the table of
every measure. The numbers come from measures/ (analysis.Paired, study.Verdict); this module only
writes them for a person, the same on the page, in the report, in the docs and on the CLI."""
from __future__ import annotations

from ganviz import operators
from ganviz.measures.analysis import MEASURES, Interval, Paired
from ganviz.measures.study import Study, Verdict, operator_verdicts
from ganviz.readable import number, times


def short_name(measure: str) -> str:
    """A measure's name without its gloss: "KID x 1000", "power at the checkerboard frequency"."""
    return MEASURES[measure][0].split(",")[0].split(" (")[0]


def _ratios(i: Interval) -> str:
    """A natural-log interval read as "x times": the mean and, over several seeds, its interval."""
    return f"{times(i.mean)} [{times(i.low)}, {times(i.high)}]" if i.n > 1 else times(i.mean)


def size(p: Paired) -> str:
    """The mean difference (a ratio for log measures) and, over several seeds, its interval."""
    i = p.interval
    if MEASURES[p.measure][1] == "log":
        return _ratios(i)
    signed = lambda x: number(x, sign=True)
    return f"{signed(i.mean)} [{signed(i.low)}, {signed(i.high)}]" if i.n > 1 else signed(i.mean)


def level(measure: str, i: Interval) -> str:
    """One operator's mean over seeds [95% interval], as `size` writes a difference: "x times"
    real images' for a log measure (its stored natural-log ratio), the number otherwise."""
    if MEASURES[measure][1] != "log":
        return str(i)
    return _ratios(i) if i.n > 1 else f"{_ratios(i)} (1 seed)"


def sentence(p: Paired) -> str:
    """Direction, size and agreement in words; "no difference" where the interval covers 0. The
    measure's name is left out: the page, the report and the docs show it beside the sentence."""
    _, kind, what = MEASURES[p.measure]
    a, b, i = operators.label(p.a), operators.label(p.b), p.interval
    if i.n < 2:
        return f"{b} {'/' if kind == 'log' else '-'} {a} = {size(p)} on one seed, so no claim."
    stats = f"{p.agree} of {i.n} seeds agree, sign-flip p = {number(p.p, 2)}"
    if not p.differs:
        return f"No difference beyond the spread over {i.n} paired seeds ({b} vs {a}: {size(p)}; {stats})."
    if kind == "log":
        return f"{b} has {size(p)} {what.format(a=a)}; {stats}."
    return f"{b} {'higher' if i.mean > 0 else 'lower'} than {a} by {size(p)}; {stats}."


def one_seed_line(v: Verdict) -> str:
    """An operator paired on one seed only: every difference in one line, and no claim."""
    a, b = operators.label(v.final[0].a), operators.label(v.variant)
    sizes = "; ".join(f"{short_name(p.measure)} {size(p)}" for p in v.final)
    return f"{b} against {a} on one seed (seed {v.final[0].seeds[0]}), so no claim: {sizes}."


def headline(v: Verdict) -> str:
    """One operator against the baseline in a line: where its power at (pi, pi) differs during
    training, then the measures of the final generators that differ, with sizes, the others only
    counted. The page leads with these lines and keeps the sentences a click away."""
    group = v.final
    lead = f"**{operators.label(v.variant)}** against {operators.label(group[0].a)}, {v.seeds} paired seeds:"
    differ = [p for p in group if p.differs]
    if differ:
        final = "final generators differ in " + "; ".join(
            f"**{short_name(p.measure)}** {size(p)} ({p.agree} of {p.interval.n} seeds agree)" for p in differ) + "."
        if len(differ) < len(group):
            final += f" No difference beyond the spread in the other {len(group) - len(differ)}."
    else:
        final = f"final generators: no difference beyond the spread in any of the {len(group)} measures."
    early = [(s, p) for s, p in v.during if p.differs]
    if early:
        training = "during training, power at (pi, pi) " + ", ".join(
            f"**{size(p)}** at step {s} ({p.agree} of {p.interval.n} seeds agree)" for s, p in early) + "."
    elif v.during:
        training = f"during training (steps {', '.join(str(s) for s, _ in v.during)}), power at (pi, pi) within the spread."
    else:
        return f"{lead} {final}"
    return f"{lead} {training} {final[0].upper()}{final[1:]}"


def sections(study: Study) -> list[tuple[str, str, str]]:
    """Per operator against the baseline: (operator, its headline, a bullet per measure with the
    paired verdict in words). An operator on one seed gets its one "no claim" line and no bullets."""
    out = []
    for v in operator_verdicts(study):
        if v.seeds < 2:
            out.append((v.variant, one_seed_line(v), ""))
        else:
            out.append((v.variant, headline(v), "\n".join(f"- **{short_name(p.measure)}**: {sentence(p)}"
                                                          for p in v.final)))
    return out


def plain(markdown: str) -> str:
    """A line of the page's markdown for a terminal: no bold marks."""
    return markdown.replace("**", "")


def study_table(study: Study) -> list[dict[str, str]]:
    """Rows for a table: one per measure, a column per operator with its mean [95% interval]
    over seeds, and each operator's paired difference against the baseline, in the headlines'
    units (a log measure as "x times")."""
    rows = []
    diffs = {(p.measure, p.b): p for p in study.verdicts}
    for m, per in study.table.items():
        row = {"measure": MEASURES[m][0], **{operators.label(v): level(m, i) for v, i in per.items()}}
        for (measure, b), p in diffs.items():
            if measure == m:
                row[f"{operators.label(b)}, paired (95%)"] = \
                    f"{size(p)} p={number(p.p, 2)}" if p.interval.n > 1 else f"{size(p)} (1 seed)"
        rows.append(row)
    return rows
