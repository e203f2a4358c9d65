"""plotting: every figure."""

from agn_saliency.plotting.figures import *  # noqa: F403
