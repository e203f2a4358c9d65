"""The former single plotting module, kept so that ``from agn_saliency.plotting.figures import …``
(the workflow's plot scripts) keeps working: every name comes from :mod:`agn_saliency.plotting`,
where new code should import it from. Importing it changes no global matplotlib state either."""

from agn_saliency.plotting import *  # noqa: F403
from agn_saliency.plotting import __all__  # noqa: F401
