"""Exact saliency and attribution maps of the calibrated SVMs: analytic gradients of the class
probabilities with respect to the input flux, no finite differences.

Modules
-------
``model``        :func:`smooth_model`: a fitted pipeline, search or classifier reduced to its scaler
                 affine map and calibrated decision functions (which models are supported)
``gradients``    the exact Jacobians: :func:`probabilities`, :func:`probabilities_and_saliency`,
                 :func:`saliency` (∂p/∂flux), chunk by chunk, every spectrum at once
``attribution``  :func:`attribute` by five methods (:data:`ATTRIBUTION_METHODS`: gradient, log-odds
                 gradient, gradient × input, integrated gradients, SmoothGrad),
                 :func:`training_mean`, :func:`completeness_error`

Every public name is importable from this package.
"""

from agn_saliency.explain.options import MAX_INTEGRATION_STEPS, check_method_options
from agn_saliency.explain.saliency.attribution import ATTRIBUTION_METHODS, attribute, completeness_error, training_mean
from agn_saliency.explain.saliency.gradients import (
    CHUNK_ELEMENTS,
    check_flux,
    probabilities,
    probabilities_and_saliency,
    saliency,
)
from agn_saliency.explain.saliency.model import (
    CalibratedMember,
    DecisionFunctions,
    ServedModel,
    SmoothModel,
    served_model,
    smooth_model,
)

__all__ = [
    "ATTRIBUTION_METHODS",
    "CHUNK_ELEMENTS",
    "CalibratedMember",
    "MAX_INTEGRATION_STEPS",
    "DecisionFunctions",
    "ServedModel",
    "SmoothModel",
    "attribute",
    "check_flux",
    "check_method_options",
    "completeness_error",
    "probabilities",
    "probabilities_and_saliency",
    "saliency",
    "served_model",
    "smooth_model",
    "training_mean",
]
