"""Errors raised by the model-loading library, each saying what went wrong and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence

from ..device import DeviceUnavailableError

__all__ = [
    "ChecksumMismatchError",
    "DeviceUnavailableError",
    "MissingDependencyError",
    "ModelCardError",
    "ModelDownloadError",
    "ModelError",
    "ModelInputError",
    "ModelLoadError",
    "UnknownModelError",
    "UnsafeModelError",
]


class ModelError(Exception):
    """Base class of every error of the model-loading library."""


class ModelCardError(ModelError, ValueError):
    """A model card is malformed; ``fields`` names the offending fields (e.g. ``files[0].sha256``).

    Args:
        source: where the card came from (a path or ``"<dict>"``).
        problems: one ``(field, message)`` pair per problem.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        self.fields = [field for field, _ in self.problems]
        lines = [f"  - {field or '(card)'}: {message}" for field, message in self.problems]
        super().__init__(f"Invalid model card {source}:\n" + "\n".join(lines))


class ModelInputError(ModelError, ValueError):
    """The images given to a model do not fit its card (number of channels, modality)."""


class UnknownModelError(ModelError, KeyError):
    """No model card with the requested id (and version) was found."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelDownloadError(ModelError, OSError):
    """A model file could not be downloaded or unpacked (network, HTTP status, missing source file)."""


class ChecksumMismatchError(ModelError):
    """A downloaded file's SHA-256 differs from the one in its model card; the file has been deleted.

    Args:
        filename: the file's name in the cache.
        url: where it was downloaded from.
        expected: SHA-256 written in the card.
        actual: SHA-256 of what was received.
    """

    def __init__(self, filename: str, url: str, expected: str, actual: str, algorithm: str = "sha256") -> None:
        self.filename, self.url, self.expected, self.actual = filename, url, expected, actual
        self.algorithm = algorithm
        super().__init__(
            f"Checksum mismatch for '{filename}' from {url}: expected {algorithm.upper().replace('SHA', 'SHA-')} "
            f"{expected}, got {actual}. "
            "The file was deleted. The download may be corrupt or the file was changed at the source; "
            "try again, and if it persists, the model card or the source must be fixed."
        )


class UnsafeModelError(ModelError):
    """A model file or configuration would execute code when loaded (or escape its folder) and was refused."""


class ModelLoadError(ModelError):
    """A verified model file could not be loaded (corrupt, wrong format, weights not matching the network)."""


class MissingDependencyError(ModelError, ImportError):
    """An optional package (torch, monai, onnxruntime) is needed but not installed."""
