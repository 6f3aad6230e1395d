"""The ``causalpa`` command line.

Subcommands::

    causalpa power analytic t --d 0.43 --power 0.8
    causalpa power analytic proportions --p1 0.63 --p2 0.36 --power 0.8
    causalpa power analytic ancova --d 0.43 --rho 0.5 --power 0.8
    causalpa power analytic mde --n 19
    causalpa power analytic design-effect --icc 0.06 --m 10 --cv 0.4
    causalpa power simulate --design randomised --smd 0.43 --analyses ancova,t-test
        --ns 40,60,80 --n-sims 1000 --seed 1 --csv power.csv --plot curve.png
    causalpa power simulate --config trial.toml
    causalpa demo

Design options can also come from a TOML file (``--config``; YAML too when
PyYAML is installed) whose keys are the long option names with underscores
(``n_sims = 2000``); options given on the command line win. ``--seed`` is passed to
the power functions as ``rng``.

Every command prints the result's ``summary()``; ``--csv`` writes its ``tidy()``
table, ``--json`` its ``to_dict()`` and ``--plot`` its figure.

Examples
--------
>>> from causalpa.cli import main
>>> main(["power", "analytic", "t", "--d", "0.43", "--power", "0.8"])  # doctest: +ELLIPSIS
two-sample t power calculation (solved for n)
...
participants: 86 + 86 = 172
0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

_DESIGNS = ("randomised", "cluster", "longitudinal", "observational")


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _add_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", metavar="PATH", help="write the result table as CSV")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``causalpa`` command."""
    parser = argparse.ArgumentParser(
        prog="causalpa",
        description="causalpa: causal inference and power analysis for physical activity "
        "in NHS Talking Therapies",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="analyse the embedded pilot and write the HTML report")
    demo.add_argument("demo_args", nargs=argparse.REMAINDER,
                      help="arguments passed to causalpa.demo")

    power = sub.add_parser("power", help="power and sample size")
    psub = power.add_subparsers(dest="power_command", required=True)

    # ---- analytic
    an = psub.add_parser("analytic", help="closed-form power / sample size (as R's pwr)")
    asub = an.add_subparsers(dest="formula", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--n", type=float, help="size of group 1 (each group if --n2 absent)")
    common.add_argument("--n2", type=float, help="size of group 2 (unequal allocation)")
    common.add_argument("--power", type=float, help="power (solved for if absent)")
    common.add_argument("--alpha", type=float, default=0.05, help="significance level")
    common.add_argument("--alternative", default="two-sided",
                        choices=["two-sided", "greater", "less"])
    _add_outputs(common)
    t = asub.add_parser("t", parents=[common], help="two-sample t test (pwr.t.test, pwr.t2n.test)")
    t.add_argument("--d", type=float, help="Cohen's d (solved for if absent)")
    anc = asub.add_parser("ancova", parents=[common], help="baseline-adjusted t test")
    anc.add_argument("--d", type=float, help="Cohen's d (solved for if absent)")
    anc.add_argument("--rho", type=float, default=0.5, help="baseline/outcome correlation")
    pr = asub.add_parser("proportions", parents=[common],
                         help="two proportions, arcsine (pwr.2p.test, pwr.2p2n.test)")
    pr.add_argument("--p1", type=float, help="proportion in PA (e.g. recovery 0.63)")
    pr.add_argument("--p2", type=float, help="proportion in control (solved for if absent)")
    pr.add_argument("--h", type=float, help="Cohen's h instead of --p1/--p2")
    mde = asub.add_parser("mde", parents=[common], help="minimum detectable effect (d)")
    mde.add_argument("--rho", type=float, default=0.0, help="baseline correlation (ANCOVA)")
    mde.add_argument("--design-effect", type=float, default=1.0)
    mde.add_argument("--attrition", type=float, default=0.0)
    de = asub.add_parser("design-effect", help="cluster design effect (Eldridge 2006)")
    de.add_argument("--icc", type=float, required=True)
    de.add_argument("--m", type=float, help="mean cluster size")
    de.add_argument("--cv", type=float, default=0.0, help="CV of cluster sizes")
    de.add_argument("--cluster-sizes", type=_floats, help="comma-separated cluster sizes")
    de.add_argument("--n", type=float, help="also inflate this per-group n")
    de.add_argument("--attrition", type=float, default=0.0)
    _add_outputs(de)

    # ---- simulate
    sim = psub.add_parser("simulate", help="simulated power for a design")
    sim.add_argument("--config", metavar="FILE", help="TOML (or YAML) file with the options")
    sim.add_argument("--design", choices=_DESIGNS, help="design (default randomised)")
    eff = sim.add_mutually_exclusive_group()
    eff.add_argument("--effect", type=float, help="simulator effect parameter")
    eff.add_argument("--smd", type=float,
                     help="realised Cohen's d on PHQ-9 change (calibrated to --effect)")
    sim.add_argument("--effect-gad7", type=float)
    sim.add_argument("--analyses", type=_names, help="comma-separated, e.g. ancova,t-test")
    sim.add_argument("--outcomes", type=_names, help="comma-separated outcome columns")
    sim.add_argument("--multiplicity", choices=["holm", "bonferroni", "none"])
    sim.add_argument("--n", type=int, help="design size (per arm; in all if observational)")
    sim.add_argument("--ns", help="several sizes for a power curve, e.g. 40,60,80")
    sim.add_argument("--target", type=float, help="search the n reaching this power")
    sim.add_argument("--n-sims", type=int, help="replicates (default 1000)")
    sim.add_argument("--alpha", type=float)
    sim.add_argument("--seed", type=int)
    sim.add_argument("--n-jobs", type=int)
    sim.add_argument("--backend", choices=["sequential", "loky", "threading", "dask"])
    sim.add_argument("--scheduler", help="dask scheduler address (tcp://host:8786)")
    sim.add_argument("--path", choices=["auto", "batched", "general"])
    sim.add_argument("--attrition", type=float, help="proportion lost to follow-up")
    sim.add_argument("--icc", type=float, help="therapist ICC")
    sim.add_argument("--cluster-size", type=int, help="patients per therapist (cluster)")
    sim.add_argument("--selection", type=float, help="self-selection strength (observational)")
    sim.add_argument("--hidden", type=float, help="unmeasured confounding (observational)")
    sim.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sim.add_argument("--plot", metavar="PNG", help="write a power-curve plot")
    _add_outputs(sim)
    return parser


# --------------------------------------------------------------------------- analytic
def _run_analytic(args: argparse.Namespace) -> Any:
    """Run an analytic calculation: a result, or a plain row for the design effect / MDE."""
    from causalpa.power import analytic

    f = args.formula
    if f == "design-effect":
        de = analytic.design_effect(args.icc, args.m, cluster_sizes=args.cluster_sizes,
                                    cv=args.cv)
        row: dict[str, Any] = {"icc": args.icc, "design_effect": de}
        text = f"design effect = {de:.4f}"
        if args.n is not None:
            row["n_inflated"] = analytic.inflate(args.n, design_effect=de,
                                                 attrition=args.attrition)
            text += (f"\nn per group {args.n:g} -> {row['n_inflated']} after clustering"
                     + (f" and {args.attrition:g} attrition" if args.attrition else ""))
        return _Plain(text, row)
    if f == "mde":
        if args.n is None:
            raise _usage("`--n` is required for the minimum detectable effect")
        d = analytic.minimum_detectable_effect(
            args.n, args.n2, power=0.8 if args.power is None else args.power, alpha=args.alpha,
            alternative=args.alternative, rho=args.rho, design_effect=args.design_effect,
            attrition=args.attrition)
        return _Plain(f"minimum detectable effect d = {d:.4f}", {"n": args.n, "mde": d})
    common = {"n": args.n, "n2": args.n2, "power": args.power, "alpha": args.alpha,
              "alternative": args.alternative}
    if f == "t":
        return analytic.two_sample_t(d=args.d, **common)
    if f == "ancova":
        return analytic.ancova(d=args.d, rho=args.rho, **common)
    return analytic.two_proportions(p1=args.p1, p2=args.p2, h=args.h, **common)


class _Plain:
    """A printed line with its one-row table (commands without a result class)."""

    def __init__(self, text: str, row: dict[str, Any]) -> None:
        self.text, self.row = text, row

    def summary(self) -> str:
        return self.text

    def tidy(self) -> Any:
        import pandas as pd

        return pd.DataFrame([self.row])

    def to_dict(self) -> dict[str, Any]:
        return dict(self.row)


class _UsageError(Exception):
    pass


def _usage(msg: str) -> _UsageError:
    return _UsageError(msg)


# --------------------------------------------------------------------------- simulate
def _load_config(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise _usage(f"`--config` file {path!r} does not exist")
    text = p.read_text()
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            raise _usage("YAML configs need PyYAML (pip install pyyaml); or use TOML") from exc
        data = yaml.safe_load(text) or {}
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        data = tomllib.loads(text)
    if not isinstance(data, dict):
        raise _usage(f"`--config` {path!r} must hold a table of options")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


_SIM_KEYS = ("design", "effect", "smd", "effect_gad7", "analyses", "outcomes", "multiplicity",
             "n", "ns", "target", "n_sims", "alpha", "seed", "n_jobs", "backend", "scheduler",
             "path", "attrition", "icc", "cluster_size", "selection", "hidden")


def _sim_constraints() -> dict[str, list[Any]]:
    """Return the constraints of every ``power simulate`` option (the library's declarations).

    ``ns`` holds the constraint of each of its sizes (that of ``n``).
    """
    from causalpa import power
    from causalpa._validation import Columns, Instance, Options, declared_params

    class _Names(Columns):
        def describe(self) -> str:
            return "a name or a list of names"

    design: dict[str, list[Any]] = {}
    for cls in (power.ClusterTrial, power.ObservationalStudy):
        design.update(declared_params(cls))
    run = declared_params(power.simulate)
    return {
        "design": [Options(*_DESIGNS)],
        "smd": declared_params(power.calibrate_effect)["smd"],
        **{k: design[k] for k in ("effect", "effect_gad7", "outcomes", "attrition", "icc",
                                  "cluster_size", "selection", "hidden")},
        "analyses": [_Names()],
        "multiplicity": [*design["multiplicity"], Options("none")],
        **{k: run[k] for k in ("n", "n_sims", "alpha", "n_jobs", "backend", "path")},
        "ns": run["n"],
        "seed": run["rng"],
        "target": declared_params(power.sample_size)["target"],
        "scheduler": [Instance(str, "a scheduler address such as 'tcp://host:8786'")],
    }


def _number(text: str) -> Any:
    """``"40"`` -> 40, ``"40.5"`` -> 40.5; anything else is returned as it is (to be refused)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _check_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Check every option with the library's constraints; return their canonical values."""
    from causalpa._validation import check_value

    constraints = _sim_constraints()
    out: dict[str, Any] = {}
    for k, v in opts.items():
        if k in ("analyses", "outcomes") and isinstance(v, str):
            v = _names(v)
        if k == "ns":
            if isinstance(v, str):
                v = [_number(x.strip()) for x in v.replace(";", ",").split(",") if x.strip()]
            elif not isinstance(v, (list, tuple)):
                v = [v]
            out[k] = [check_value("ns", x, constraints["ns"]) for x in v]
            continue
        out[k] = check_value(k, v, constraints[k])
    return out


def _sim_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = _load_config(args.config) if args.config else {}
    unknown = sorted(set(opts) - set(_SIM_KEYS))
    if unknown:
        raise _usage(f"unknown option(s) in `--config`: {unknown}; allowed: {list(_SIM_KEYS)}")
    for k in _SIM_KEYS:
        v = getattr(args, k, None)
        if v is not None:
            opts[k] = v
    return _check_options(opts)


def _build_design(opts: dict[str, Any]) -> Any:
    from causalpa import power

    kind = opts.get("design", "randomised")
    cls = {"randomised": power.RandomisedTrial, "cluster": power.ClusterTrial,
           "longitudinal": power.LongitudinalTrial,
           "observational": power.ObservationalStudy}.get(kind)
    if cls is None:
        raise _usage(f"`design` must be one of {list(_DESIGNS)}; got {kind!r}")
    kw: dict[str, Any] = {}
    for k in ("effect_gad7", "attrition", "icc", "cluster_size", "selection", "hidden"):
        if k in opts:
            kw[k] = opts[k]
    if "analyses" in opts:
        kw["analyses"] = tuple(opts["analyses"])
    if "outcomes" in opts:
        kw["outcomes"] = tuple(opts["outcomes"])
    if "multiplicity" in opts:
        kw["multiplicity"] = None if opts["multiplicity"] in ("none", None) else opts["multiplicity"]
    if "smd" in opts and "effect" in opts:
        raise _usage("give `effect` or `smd`, not both")
    if "smd" in opts:
        return cls.from_smd(opts["smd"], **kw)
    if "effect" in opts:
        kw["effect"] = opts["effect"]
    return cls(**kw)


def _run_simulate(args: argparse.Namespace) -> tuple[str, Any]:
    """Run ``power simulate``: the text to print and the result."""
    from causalpa import power

    opts = _sim_options(args)
    design = _build_design(opts)
    run_kw: dict[str, Any] = {
        "n_sims": opts.get("n_sims", 1000),
        "alpha": opts.get("alpha", 0.05),
        "rng": opts.get("seed"),
        "n_jobs": opts.get("n_jobs", 1),
        "backend": opts.get("backend"),
        "progress": not args.no_progress,
    }
    if "path" in opts:
        run_kw["path"] = opts["path"]
    client = None
    if opts.get("scheduler"):
        from distributed import Client

        client = Client(opts["scheduler"])
        run_kw.update(backend="dask", client=client)
    try:
        if "target" in opts:
            ss = power.sample_size(design, target=opts["target"], **run_kw)
            table = ss.evaluations.assign(selected=lambda f: f["n"] == ss.n)
            return f"{ss.summary()}\nevaluated:\n{table.to_string(index=False)}", ss
        if "ns" in opts:
            c = power.curve(design, ns=opts["ns"], **run_kw)
            return c.summary(), c
        if "n" not in opts:
            raise _usage("give `--n`, `--ns` or `--target`")
        res = power.simulate(design, n=opts["n"], **run_kw)
        return res.summary(), res
    finally:
        if client is not None:
            client.close()


def _write_outputs(args: argparse.Namespace, result: Any) -> None:
    """``--csv``: the result's ``tidy()``; ``--json``: its ``to_dict()``."""
    if getattr(args, "csv", None):
        result.tidy().to_csv(args.csv, index=False)
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(_json_ready(result.to_dict()), indent=2,
                                              allow_nan=False, default=_json_default))


def _write_plot(path: str, result: Any) -> None:
    """``--plot``: the result's figure (a one-point curve for a single n)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from causalpa import power

    if isinstance(result, power.PowerResult):
        result = power.PowerCurve((result,))
    ax = result.plot()
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


def _json_ready(o: Any) -> Any:
    """Return plain JSON values: numpy scalars and arrays as Python ones, NaN and infinities as null.

    JSON has no NaN, so ``json.dumps`` would write a bare ``NaN`` that strict parsers
    refuse; this runs through dicts, lists and tuples (a float's NaN never reaches
    ``json.dumps``'s ``default=``).

    Examples
    --------
    >>> import numpy as np
    >>> _json_ready({"power": float("nan"), "n": np.int64(3), "ci": (0.5, np.inf)})
    {'power': None, 'n': 3, 'ci': [0.5, None]}
    """
    import math

    import numpy as np

    if isinstance(o, dict):
        return {(k.item() if isinstance(k, np.generic) else k): _json_ready(v)
                for k, v in o.items()}
    if isinstance(o, np.ndarray):
        o = o.tolist()
    if isinstance(o, (list, tuple)):
        return [_json_ready(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _json_default(o: Any) -> Any:
    """Return any other object (not a JSON value) as its text."""
    return str(o)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``causalpa`` command; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on a usage or specification error.
    """
    from causalpa.errors import CausalpaError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from causalpa import demo

            return int(demo.main(args.demo_args) or 0)
        if args.power_command == "analytic":
            result = _run_analytic(args)
            print(result.summary())
            _write_outputs(args, result)
            return 0
        text, result = _run_simulate(args)
        print(text)
        _write_outputs(args, result)
        if args.plot:
            _write_plot(args.plot, result)
        return 0
    except (CausalpaError, _UsageError) as exc:
        print(f"causalpa: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
