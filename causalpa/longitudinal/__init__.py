"""Longitudinal models for session-level data.

:func:`mixed` fits linear mixed models (random intercepts and slopes, patients nested in
therapists) with Satterthwaite or Kenward-Roger degrees of freedom.

Examples
--------
>>> from causalpa.longitudinal import mixed
>>> callable(mixed)
True
"""

from causalpa.longitudinal.gee import gee
from causalpa.longitudinal.glmm import glmm
from causalpa.longitudinal.mixed import MixedModelResult, mixed
from causalpa.longitudinal.panel import panel

__all__ = ["mixed", "MixedModelResult", "gee", "glmm", "panel"]
