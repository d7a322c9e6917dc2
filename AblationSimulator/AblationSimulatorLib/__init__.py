"""Ablation planning library of the AblationSimulator module (headless, pure Python).

Today it describes applicator (needle/antenna/probe) placement geometry; ablation-zone models, margins and
confirmation arrive with later releases. Importing it pulls in neither Qt, Slicer, VTK nor torch.
"""

from .applicator import Applicator, applicators_table

__all__ = ["Applicator", "applicators_table"]
