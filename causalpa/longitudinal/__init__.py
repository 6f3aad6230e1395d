"""Longitudinal models for session-level data.

:func:`mixed` fits linear mixed models (random intercepts and slopes, patients nested in
therapists) with Satterthwaite or Kenward-Roger degrees of freedom; :func:`gee` fits
(weighted) marginal models by generalised estimating equations, :func:`glmm` a
random-intercept logistic model by the Laplace approximation and :func:`panel` a
within-patient fixed-effects regression. Each takes ``(data, formula, *, groups=...)`` and
returns a result on the shared protocol (:mod:`causalpa.results`).

Examples
--------
>>> from causalpa.longitudinal import mixed
>>> callable(mixed)
True
"""

from causalpa.longitudinal._lmm_result import FTest
from causalpa.longitudinal.gee import GEEResult, gee
from causalpa.longitudinal.glmm import GLMMResult, glmm
from causalpa.longitudinal.mixed import MixedModelResult, mixed
from causalpa.longitudinal.panel import PanelResult, panel

__all__ = ["mixed", "MixedModelResult", "FTest", "gee", "GEEResult", "glmm", "GLMMResult",
           "panel", "PanelResult"]
