"""Shared test configuration: non-interactive plotting, deterministic hypothesis profile."""

import matplotlib

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "causalpa",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
settings.load_profile("causalpa")

# tests/reference holds the scripts that generated reference values (some need R or
# write files); they are provenance, not tests, so pytest must not import them.
collect_ignore_glob = ["reference/*"]
