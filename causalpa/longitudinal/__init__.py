"""Longitudinal (session-level) models: mixed models, GEE, panel fixed effects, GLMM.

Examples
--------
>>> from causalpa.longitudinal import gee
>>> callable(gee)
True
"""

from causalpa.longitudinal.gee import gee

__all__ = ["gee"]
