"""Longitudinal models for session-level data.

:func:`mixed` fits linear mixed models (random intercepts and slopes, patients nested in
therapists) with Satterthwaite or Kenward-Roger degrees of freedom.

Examples
--------
>>> from causalpa.longitudinal import mixed
>>> callable(mixed)
True
"""

from causalpa.longitudinal.gee import GEEResult, gee
from causalpa.longitudinal.glmm import GLMMResult, glmm
from causalpa.longitudinal.mixed import MixedModelResult, mixed
from causalpa.longitudinal.panel import PanelResult, panel

__all__ = ["mixed", "MixedModelResult", "gee", "GEEResult", "glmm", "GLMMResult", "panel",
           "PanelResult"]
