"""Depth metrics with evaluation protocols (papers 000-004); see :mod:`.core` for definitions.

``compute_metrics(pred, gt, valid=None, protocol=None, aggregation=..., align=..., **options)``
for one call, :class:`MetricAccumulator` for a dataset, :func:`get_protocol` for the named
protocols (``nyu``, ``kitti-eigen``, ``kitti-garg`` and their ``-50`` variants, ``make3d``,
``none``) and :mod:`.alignment` for median / least-squares scale (and shift) alignment.
"""

from .alignment import ALIGN_METHODS, align, fit_alignment
from .core import (
    HIGHER_IS_BETTER,
    METRIC_KEYS,
    VARIANTS,
    MetricAccumulator,
    MetricOptions,
    NoValidPixelWarning,
    compute_metrics,
    finalize,
    make_options,
    ssim_map,
)
from .protocols import EPS_DEPTH, Protocol, get_protocol, protocol_names, register_protocol

__all__ = [
    "ALIGN_METHODS",
    "EPS_DEPTH",
    "HIGHER_IS_BETTER",
    "METRIC_KEYS",
    "VARIANTS",
    "MetricAccumulator",
    "MetricOptions",
    "NoValidPixelWarning",
    "Protocol",
    "align",
    "compute_metrics",
    "finalize",
    "fit_alignment",
    "get_protocol",
    "make_options",
    "protocol_names",
    "register_protocol",
    "ssim_map",
]
