"""DoWhy integration: the self-selection graph as a ``CausalModel``, and refuters.

The analyses in causalpa assume that every recorded covariate may influence both
the choice of physical activity and the outcome (self-selection on observed
covariates) and that, given them, the choice is as good as random. This module
encodes that assumption as a causal graph (each covariate -> treatment, each
covariate -> outcome, treatment -> outcome) and hands it to DoWhy, whose
refuters probe the estimate: a placebo treatment should give no effect, adding
a random common cause or refitting on subsets should not move it.

DoWhy is imported only when these functions are called
(``pip install causalpa[dowhy]``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from causalpa.integrations.dowhy import self_selection_graph
>>> g = self_selection_graph("pa ~ age + phq9_first", outcome="phq9_change")
>>> sorted(g.edges())[:2]
[('age', 'pa'), ('age', 'phq9_change')]
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from causalpa._spec import Spec, make_spec, parse_formula
from causalpa._validation import (
    NONE,
    Column,
    Columns,
    Instance,
    Number,
    RandomState,
    as_generator,
    check_columns,
    check_no_missing,
    validate_params,
)
from causalpa.errors import SpecificationError

__all__ = ["self_selection_graph", "causal_model", "refute", "REFUTERS"]

Refuter = Literal["placebo", "random_common_cause", "data_subset"]
REFUTERS: dict[str, str] = dict(zip(
    get_args(Refuter),
    ("placebo_treatment_refuter", "random_common_cause", "data_subset_refuter"), strict=True))
"""Short names of the supported DoWhy refuters and DoWhy's names for them."""

# the treatment model's declared options, shared by the three functions
_MODEL_OPTIONS: dict[str, Any] = {
    "outcome": Column(), "treatment": [Column(), NONE], "covariates": [Columns(), NONE],
}
_FORMULA = [Instance(str, "a formula such as 'pa ~ age + C(sex)'"),
            Instance(Spec, "a causalpa Spec"), NONE]


def _import_dowhy() -> Any:
    try:
        import dowhy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the DoWhy integration needs the optional dependency dowhy: "
            "pip install 'causalpa[dowhy]'"
        ) from exc
    return dowhy


@validate_params({**_MODEL_OPTIONS, "formula": _FORMULA})
def self_selection_graph(
    formula: str | Spec | None = None,
    *,
    outcome: str,
    treatment: str | None = None,
    covariates: list[str] | None = None,
) -> Any:
    """Return the self-selection DAG as a :class:`networkx.DiGraph`.

    Parameters
    ----------
    formula : str or Spec, optional
        ``"treatment ~ covariates"`` (column names are read from the terms) or the
        :class:`~causalpa._spec.Spec` of a causalpa result.
    outcome : str
        Outcome node.
    treatment, covariates : str, list of str, optional
        Instead of ``formula``.

    Returns
    -------
    networkx.DiGraph
        Edges covariate -> treatment, covariate -> outcome, treatment -> outcome.

    Raises
    ------
    SpecificationError
        Neither or both of ``formula`` and ``treatment``, or a malformed formula.

    Examples
    --------
    >>> g = self_selection_graph(treatment="pa", covariates=["age", "phq9_first"],
    ...                          outcome="phq9_change")
    >>> sorted(g.predecessors("pa")), sorted(g.predecessors("phq9_change"))
    (['age', 'phq9_first'], ['age', 'pa', 'phq9_first'])
    >>> g.number_of_edges()
    5
    >>> sorted(self_selection_graph("pa ~ age + C(sex)", outcome="phq9_change").predecessors("pa"))
    ['age', 'sex']
    """
    import networkx as nx

    if formula is not None and (treatment is not None or covariates is not None):
        raise SpecificationError("give either `formula` or `treatment=`/`covariates=`, not both")
    if isinstance(formula, Spec):
        if formula.role != "treatment":
            raise SpecificationError("`formula` is a spec of another kind of model")
        treatment, covariates = formula.treatment, sorted(formula.variables)
    elif formula is not None:
        parsed = parse_formula(formula)
        treatment = parsed.lhs_variables[0]
        covariates = sorted(parsed.rhs_variables)
    if treatment is None:
        raise SpecificationError("give `formula` or `treatment=`/`covariates=`")
    g = nx.DiGraph()
    g.add_node(treatment)
    g.add_node(outcome)
    for c in covariates or []:
        g.add_edge(c, treatment)
        g.add_edge(c, outcome)
    g.add_edge(treatment, outcome)
    return g


def _model_frame(data: pd.DataFrame, spec: Any, outcome: str) -> tuple[pd.DataFrame, list[str]]:
    """Copy of the needed columns: treatment as bool, factors one-hot coded (reference dropped)."""
    frame = pd.DataFrame(index=data.index)
    frame[spec.treatment] = spec.treatment_array(data).astype(bool)
    covs: list[str] = []
    for v in spec.variables:
        s = data[v]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            frame[v] = s.astype(float)
            covs.append(v)
        else:
            dummies = pd.get_dummies(s.astype(str), prefix=v, drop_first=True, dtype=float)
            for c in dummies:
                frame[c] = dummies[c]
                covs.append(c)
    frame[outcome] = data[outcome].astype(float)
    return frame.reset_index(drop=True), covs


@validate_params({**_MODEL_OPTIONS, "formula": _FORMULA})
def causal_model(
    data: pd.DataFrame,
    formula: str | Spec | None = None,
    *,
    outcome: str,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    treated: Any = None,
) -> Any:
    """Build a DoWhy ``CausalModel`` for the self-selection graph.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (not modified; a copy with the needed columns is used).
    formula : str or Spec, optional
        ``"treatment ~ covariates"`` or the :class:`~causalpa._spec.Spec` of another
        causalpa result (e.g. ``weight(...).spec``); the covariate *columns* become
        graph nodes (factor columns are one-hot coded).
    outcome : str
        Outcome column.
    treatment, covariates : optional
        Instead of ``formula``.
    treated : object, optional
        Treated level of a non-0/1 treatment.

    Returns
    -------
    dowhy.CausalModel

    Raises
    ------
    SpecificationError
        Bad option values (named).
    DataError
        Absent columns, missing values, a treatment that is not binary.

    Examples
    --------
    Importing DoWhy alone takes a few seconds, so the model is not built when
    the examples are tested:

    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> model = causal_model(df, "pa ~ age + C(sex)", outcome="phq9_change")  # doctest: +SKIP
    >>> ident = model.identify_effect(proceed_when_unidentifiable=True)  # doctest: +SKIP
    """
    dowhy = _import_dowhy()
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    check_columns(data, [outcome], "outcome")
    check_no_missing(data, [outcome])
    frame, covs = _model_frame(data, spec, outcome)
    graph = self_selection_graph(treatment=spec.treatment, covariates=covs, outcome=outcome)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dowhy.CausalModel(data=frame, treatment=spec.treatment, outcome=outcome,
                                 graph=graph)


def _seed(rng: Any) -> int:
    """Return an integer seed for DoWhy's ``random_seed`` (an integer ``rng`` as it is)."""
    if isinstance(rng, numbers.Integral):
        return int(rng)
    return int(as_generator(rng).integers(2**32))


@validate_params({**_MODEL_OPTIONS, "formula": _FORMULA,
                  "estimator": Instance(str, "a DoWhy estimation method name such as "
                                             "'backdoor.linear_regression'"),
                  "num_simulations": Number(low=1, integer=True), "rng": RandomState()})
def refute(
    data: pd.DataFrame,
    formula: str | Spec | None = None,
    *,
    outcome: str,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    method: Refuter = "placebo",
    estimator: str = "backdoor.linear_regression",
    num_simulations: int = 50,
    rng: Any = 0,
    treated: Any = None,
) -> pd.DataFrame:
    """Estimate the effect with DoWhy and run one of its refuters.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (not modified).
    formula : str or Spec, optional
        ``"treatment ~ covariates"`` or a causalpa ``Spec``.
    outcome : str
        Outcome column.
    treatment, covariates : optional
        Instead of ``formula``.
    method : {"placebo", "random_common_cause", "data_subset"}
        DoWhy refuter: replace the treatment by a random placebo (the effect should
        vanish), add a random common cause, or refit on random subsets (the
        estimate should not move).
    estimator : str
        DoWhy estimation method name (default ``"backdoor.linear_regression"``).
    num_simulations : int
        Refuter simulations (>= 1).
    rng : None, int or numpy.random.Generator
        Randomness of the refuter (SPEC 7; default 0, so results repeat). DoWhy takes an
        integer seed: an integer is passed as it is, a Generator gives one draw. NumPy's
        global random state, which DoWhy seeds, is restored afterwards.
    treated : object, optional
        Treated level of a non-0/1 treatment.

    Returns
    -------
    pandas.DataFrame
        One row: ``refuter``, ``estimated_effect``, ``new_effect``, ``p_value``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"age": rng.normal(size=300)})
    >>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-df["age"])))
    >>> df["y"] = df["pa"] + df["age"] + rng.normal(size=300)
    >>> out = refute(df, "pa ~ age", outcome="y", num_simulations=5, rng=1)  # doctest: +SKIP
    """
    model = causal_model(data, formula, outcome=outcome, treatment=treatment,
                         covariates=covariates, treated=treated)
    kwargs: dict[str, Any] = {"num_simulations": num_simulations, "random_seed": _seed(rng)}
    if method == "placebo":
        kwargs["placebo_type"] = "permute"
    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ident = model.identify_effect(proceed_when_unidentifiable=True)
            est = model.estimate_effect(ident, method_name=estimator)
            ref = model.refute_estimate(ident, est, method_name=REFUTERS[method], **kwargs)
    finally:
        np.random.set_state(state)
    res = getattr(ref, "refutation_result", None) or {}
    return pd.DataFrame([{
        "refuter": REFUTERS[method],
        "estimated_effect": float(ref.estimated_effect),
        "new_effect": float(np.asarray(ref.new_effect).ravel()[0]),
        "p_value": float(res.get("p_value", np.nan)) if isinstance(res, dict) else np.nan,
    }])
