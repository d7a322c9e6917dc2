"""HTML reports with tables and pictures (used by the demo and the per-task CLI commands)."""

from .html import Report, Section

__all__ = ["Report", "Section"]
