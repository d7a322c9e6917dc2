"""One mapping from the project's error classes to what the user sees: one red line on stderr, exit code 2.

Every ``hccai`` command, including those registered by capabilities through the ``hccai.commands`` entry
points, wraps its work in :func:`user_errors` (a context manager that also works as a decorator). User errors
(bad input, a wrong output path, an unavailable device, a model failing its checksum, a missing optional
package) end in ``Error: <one sentence>`` and exit code 2, never a traceback; cancellation (Ctrl+C) ends in a
true statement of what was written and exit code 130. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import typer

__all__ = [
    "CANCELLED_EXIT_CODE",
    "USER_ERROR_EXIT_CODE",
    "fail",
    "is_user_error",
    "one_line",
    "register_user_error",
    "user_errors",
]

logger = logging.getLogger(__name__)
_BULLET = re.compile(r"^\s*[-•*]\s+")  # "  - field: message" list items of multi-line messages

#: Exit code of every user error (as click uses for usage errors).
USER_ERROR_EXIT_CODE = 2
#: Exit code after Ctrl+C / Cancel (128 + SIGINT, as shells report it).
CANCELLED_EXIT_CODE = 130

# Standard-library classes that mean "the user's input or environment", not a bug. ValueError covers the
# project's own input errors (Y90InputError, OutputPathError, DeviceUnavailableError, ImageReadError, ...).
_USER_ERRORS: list[type[BaseException]] = [
    ValueError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ImportError,
]


def register_user_error(error_class: type[BaseException]) -> None:
    """Treat ``error_class`` as a user error in every command (for capability errors not derived from ValueError)."""
    if error_class not in _USER_ERRORS:
        _USER_ERRORS.append(error_class)


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is reported as one line (exit 2) rather than as a traceback."""
    from ..models.errors import ModelError  # every model-library error says what went wrong and what to do

    return isinstance(error, (ModelError, *_USER_ERRORS))


def one_line(error: BaseException | str) -> str:
    """The error's message on one line (multi-line messages, e.g. a model card's problem list, joined by '; ')."""
    text = error if isinstance(error, str) else str(error)
    if isinstance(error, KeyError) and text.startswith(("'", '"')) and text.endswith(("'", '"')):
        text = text[1:-1]  # KeyError quotes its message
    lines = [_BULLET.sub("", line).strip() for line in text.splitlines()]
    text = "; ".join(line for line in lines if line)
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    return text.replace(":;", ":")


def fail(message: str, code: int = USER_ERROR_EXIT_CODE) -> None:
    """Print ``Error: <message>`` in red on stderr and exit with ``code``."""
    typer.secho(f"Error: {one_line(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)


def _what_exists(output: Path | None) -> str:
    if output is None:
        return "cancelled"
    output = Path(output)
    try:
        earlier = output.is_file() or (output.is_dir() and any(output.iterdir()))
    except OSError:
        earlier = False
    if earlier:
        return f"cancelled; nothing was written to {output} (its earlier contents are unchanged)"
    return f"cancelled; nothing was written to {output}"


@contextlib.contextmanager
def user_errors(output: str | Path | None = None, *, cancelled: str | None = None) -> Iterator[None]:
    """Turn user errors into one red line + exit code 2, and cancellation into a true message + exit code 130.

    Args:
        output: the command's output folder or file, named in the cancellation message. Outputs are written
            through :func:`HCCInterventionalAILib.outputs.atomic_output`, so a cancelled run has written nothing
            under this name; the message says so, and that earlier contents (if any) are unchanged.
        cancelled: the message after a cancellation instead (for outputs that are not written atomically).

    Example:
        >>> with user_errors(output), atomic_output(output) as staging:  # doctest: +SKIP
        ...     run(staging)
    """
    from ..progress import Cancelled

    try:
        yield
    except typer.Exit:
        raise
    except (Cancelled, KeyboardInterrupt):
        message = cancelled or _what_exists(Path(output) if output is not None else None)
        typer.secho(message, fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(code=CANCELLED_EXIT_CODE) from None
    except Exception as error:
        if not is_user_error(error):
            raise
        logger.info("Details of the error", exc_info=True)  # shown with --verbose
        typer.secho(f"Error: {one_line(error)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=USER_ERROR_EXIT_CODE) from None

