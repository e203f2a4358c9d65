"""What every stage module shares: the rule's logger."""

from __future__ import annotations

import logging


def rule_log(rule: str) -> logging.Logger:
    """The logger of rule ``rule`` (``agn_saliency.<rule>``): its records go to the rule's log file."""
    return logging.getLogger(f"agn_saliency.{rule}")
