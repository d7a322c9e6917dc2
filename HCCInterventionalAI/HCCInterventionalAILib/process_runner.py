"""Run long work in a separate worker process: stream its log, parse its progress, cancel its whole process tree.

Inside Slicer the module starts the worker with ``[PythonSlicer, "-m", "Package.worker", ...]`` (the GUI stays
responsive; the module calls :meth:`ProcessRunner.poll` from a ``qt.QTimer``); headless callers use
``[sys.executable, "-m", ...]`` and :meth:`ProcessRunner.run`. In-process calls of the libraries remain
available for the Python console.

Progress protocol (worker -> runner), one line on the worker's stdout::

    HCCAI-PROGRESS <fraction 0-1> <message to the end of the line>

e.g. ``HCCAI-PROGRESS 0.42 Kernel convolution``. Every other line (stdout and stderr) is a log line. The worker
side is :func:`worker_progress`, a :class:`~HCCInterventionalAILib.progress.Progress` whose callback prints
these lines, and :func:`install_termination_handler`, which turns SIGTERM into
:class:`~HCCInterventionalAILib.progress.Cancelled` so that ``atomic_output`` deletes its staging folder.

Cancel terminates the whole process tree: on POSIX the worker starts in a new session (its own process group)
and the group receives SIGTERM, then SIGKILL after ``grace_s``; on Windows ``psutil`` is used when it is
installed, else ``taskkill /T /F /PID`` (which also ends the children). A worker that writes through
``atomic_output`` leaves nothing under the final output name when it is cancelled or killed.

Worker modules (``Y90DosimetryLib.worker``, ``HCCInterventionalAILib.models.worker``) share the rest:
:func:`run_worker` (worker side: progress lines, SIGTERM handling, user errors as one ``error:`` line on stderr
and exit code :data:`EXIT_USER_ERROR`, cancellation as :data:`EXIT_CANCELLED`) and :func:`start_worker` (module
side: a :class:`WorkerRunner` on a temporary work folder from :func:`make_work_folder`, run by
:func:`worker_python`, which :func:`remove_work_folder` deletes on cancel or failure).

Example:
    >>> runner = ProcessRunner([sys.executable, "-c", "print('hello')"], log=print)  # doctest: +SKIP
    >>> runner.run()  # doctest: +SKIP
    hello
    0
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from .progress import Cancelled, CancelToken, Progress, ProgressCallback

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_USER_ERROR",
    "PROGRESS_PREFIX",
    "ProcessResult",
    "ProcessRunner",
    "WORK_FOLDER_MARKER",
    "WorkerRunner",
    "format_progress_line",
    "install_termination_handler",
    "kill_process_tree",
    "make_work_folder",
    "parse_progress_line",
    "remove_work_folder",
    "run_process",
    "run_worker",
    "start_worker",
    "worker_progress",
    "worker_python",
]

PROGRESS_PREFIX = "HCCAI-PROGRESS"
LogCallback = Callable[[str], None]


def format_progress_line(fraction: float, message: str = "") -> str:
    """The protocol line for ``fraction`` (clamped to 0–1) and a one-line ``message``."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    message = " ".join(str(message).split())
    return f"{PROGRESS_PREFIX} {fraction:.4f} {message}".rstrip()


def parse_progress_line(line: str) -> tuple[float, str] | None:
    """Parse a protocol line; returns (fraction clamped to 0–1, message), or None for any other line."""
    parts = line.strip().split(" ", 2)
    if len(parts) < 2 or parts[0] != PROGRESS_PREFIX:
        return None
    try:
        fraction = float(parts[1])
    except ValueError:
        return None
    if fraction != fraction:  # NaN
        return None
    return min(max(fraction, 0.0), 1.0), (parts[2] if len(parts) > 2 else "")


def worker_progress(stream: TextIO | None = None, token: CancelToken | None = None) -> Progress:
    """Worker side: a Progress whose updates are printed (and flushed) as protocol lines on ``stream`` (stdout)."""

    def callback(fraction: float, message: str) -> None:
        out = stream if stream is not None else sys.stdout
        print(format_progress_line(fraction, message), file=out, flush=True)

    return Progress(callback, token)


def install_termination_handler() -> None:
    """Worker side: raise :class:`Cancelled` in the main thread on SIGTERM (and SIGBREAK on Windows), so that
    ``atomic_output`` and ``finally`` blocks clean up before the process ends."""

    def handler(signum: int, frame: object) -> None:
        raise Cancelled(f"Stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGBREAK"):  # pragma: no cover - Windows
        signal.signal(signal.SIGBREAK, handler)


def kill_process_tree(process: subprocess.Popen, grace_s: float = 3.0) -> None:
    """Terminate ``process`` and every process it started, then reap it.

    POSIX: SIGTERM to the process group (the process must have been started with ``start_new_session=True``),
    SIGKILL to the group after ``grace_s`` or as soon as the leader has exited (to end children that ignored
    SIGTERM). Windows: psutil's children list when psutil is installed, else ``taskkill /T /F``.

    Args:
        process: the worker started by :class:`ProcessRunner`.
        grace_s: seconds the tree has to clean up after SIGTERM.
    """
    if os.name == "posix":
        try:
            group = os.getpgid(process.pid)
        except ProcessLookupError:
            group = process.pid
        if group == os.getpgid(0):  # never signal our own group
            process.kill()
            process.wait()
            return
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
        return
    try:  # pragma: no cover - Windows
        import psutil
    except ImportError:  # pragma: no cover - Windows without psutil
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True, check=False)
    else:  # pragma: no cover - Windows with psutil
        try:
            parent = psutil.Process(process.pid)
            tree = [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            tree = []
        for member in tree:
            try:
                member.terminate()
            except psutil.NoSuchProcess:
                pass
        _gone, alive = psutil.wait_procs(tree, timeout=grace_s)
        for member in alive:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
    process.wait()  # pragma: no cover - Windows


@dataclass
class ProcessResult:
    """Outcome of a worker run.

    Attributes:
        returncode: the worker's exit code (negative: ended by that signal on POSIX).
        cancelled: whether Cancel stopped it.
        last_progress: the last (fraction, message) the worker reported, or None.
    """

    returncode: int
    cancelled: bool
    last_progress: tuple[float, str] | None = None

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.cancelled


class ProcessRunner:
    """Start a worker command, stream its output lines, parse its progress, cancel its whole process tree.

    Callbacks run in the thread that calls :meth:`poll` / :meth:`run` (the GUI thread inside Slicer), never in
    the reader threads.

    Args:
        command: the program and its arguments, e.g. ``[sys.executable, "-m", "Y90DosimetryLib.cli", ...]``.
        log: called with each output line (without the line end) that is not a progress line; stderr lines
            are prefixed with ``"[stderr] "``.
        progress: called with (fraction, message) for each progress line.
        cwd: working folder of the worker.
        env: extra environment variables (added to the current environment).
        grace_s: seconds between SIGTERM and SIGKILL on Cancel.

    Raises:
        ValueError: an empty command.
    """

    def __init__(
        self,
        command: Sequence[str],
        log: LogCallback | None = None,
        progress: ProgressCallback | None = None,
        cwd: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
        grace_s: float = 3.0,
    ) -> None:
        if not command:
            raise ValueError("The worker command is empty; give the program and its arguments")
        self.command = [str(part) for part in command]
        self.log = log
        self.progress = progress
        self.cwd = cwd
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", **(env or {})}
        self.grace_s = grace_s
        self.process: subprocess.Popen | None = None
        self.cancelled = False
        self.last_progress: tuple[float, str] | None = None
        self._lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._readers: list[threading.Thread] = []

    # ---------------------------------------------------------------------------------------------
    def start(self) -> ProcessRunner:
        """Start the worker (in its own session/process group on POSIX). Returns self."""
        if self.process is not None:
            raise RuntimeError("This runner has already started its worker")
        options: dict = {}
        if os.name == "posix":
            options["start_new_session"] = True
        else:  # pragma: no cover - Windows
            options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.cwd, env=self.env, text=True, encoding="utf-8", errors="replace", bufsize=1, **options,
        )
        for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr)):
            reader = threading.Thread(target=self._read, args=(name, stream), daemon=True)
            reader.start()
            self._readers.append(reader)
        return self

    def _read(self, name: str, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put((name, line.rstrip("\r\n")))
        finally:
            self._lines.put((name, None))

    def _dispatch(self, block_s: float = 0.0) -> None:
        """Hand the lines read so far to the callbacks (waiting up to ``block_s`` for the first)."""
        try:
            item = self._lines.get(timeout=block_s) if block_s > 0 else self._lines.get_nowait()
        except queue.Empty:
            return
        while True:
            name, line = item
            if line is not None:
                parsed = parse_progress_line(line) if name == "stdout" else None
                if parsed is not None:
                    self.last_progress = parsed
                    if self.progress is not None:
                        self.progress(*parsed)
                elif self.log is not None:
                    self.log(line if name == "stdout" else f"[stderr] {line}")
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                return

    # ---------------------------------------------------------------------------------------------
    def poll(self) -> int | None:
        """Dispatch pending lines; returns the exit code once the worker has ended and its output is read."""
        if self.process is None:
            raise RuntimeError("Start the worker first")
        self._dispatch()
        if self.process.poll() is None:
            return None
        for reader in self._readers:
            reader.join(timeout=1.0)
        self._dispatch()
        return self.process.returncode

    def cancel(self) -> None:
        """Terminate the worker and all processes it started (blocks up to ``grace_s`` + reaping)."""
        self.cancelled = True
        if self.process is not None and self.process.poll() is None:
            kill_process_tree(self.process, self.grace_s)
        elif self.process is not None and os.name == "posix":  # leader gone: end leftover children too
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def run(self, token: CancelToken | None = None, timeout_s: float | None = None, poll_s: float = 0.05
            ) -> ProcessResult:
        """Start (unless started), stream until the worker ends, and return its result.

        Args:
            token: a cancel token polled while waiting; when set, the process tree is terminated.
            timeout_s: cancel the worker after this many seconds (None: no limit).
            poll_s: the waiting interval between line dispatches.

        Returns:
            The :class:`ProcessResult` (exit code, whether it was cancelled, last progress).
        """
        if self.process is None:
            self.start()
        started = time.monotonic()
        while True:
            code = self.poll()
            if code is not None:
                return ProcessResult(code, self.cancelled, self.last_progress)
            if (token is not None and token.cancelled) or (
                    timeout_s is not None and time.monotonic() - started > timeout_s):
                self.cancel()
                continue
            self._dispatch(block_s=poll_s)


def run_process(
    command: Sequence[str],
    log: LogCallback | None = None,
    progress: Progress | ProgressCallback | None = None,
    token: CancelToken | None = None,
    **options,
) -> ProcessResult:
    """Run ``command`` to its end (or until ``token`` is cancelled); see :class:`ProcessRunner`.

    A :class:`Progress` passed as ``progress`` lends both its callback and its cancel token.
    """
    callback: ProgressCallback | None = progress if not isinstance(progress, Progress) else None
    if isinstance(progress, Progress):
        reporter = progress
        token = token or reporter.token

        def callback(fraction: float, message: str) -> None:  # the reporter's slice, without its cancel check
            if reporter.callback is not None:
                reporter.callback(reporter.start + (reporter.end - reporter.start) * fraction, message)

    return ProcessRunner(command, log=log, progress=callback, **options).run(token=token)


# -- shared by the worker modules -------------------------------------------------------------------------------
#: Exit code of a worker whose input was refused (one ``error:`` line on stderr).
EXIT_USER_ERROR = 2
#: Exit code of a worker that was cancelled (SIGTERM) before it finished; it wrote nothing.
EXIT_CANCELLED = 3
#: File that marks a temporary work folder made by :func:`make_work_folder` (only such folders are removed).
WORK_FOLDER_MARKER = ".hccai-worker"


def run_worker(work: Callable[[Progress], str | None],
               user_errors: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError)) -> int:
    """Worker side: run ``work`` with a protocol :class:`Progress` and turn its outcome into an exit code.

    SIGTERM raises :class:`Cancelled` in ``work`` (:func:`install_termination_handler`), so outputs written
    through ``atomic_output``/``atomic_file`` are removed.

    Args:
        work: called with the :func:`worker_progress`; returns a closing message for stdout (or None).
        user_errors: exceptions reported as one ``error: <message>`` line on stderr, without a traceback.

    Returns:
        0 when done, :data:`EXIT_USER_ERROR` for a user error, :data:`EXIT_CANCELLED` when cancelled.
    """
    install_termination_handler()
    try:
        message = work(worker_progress())
    except Cancelled:
        print("Cancelled; no output was written.", file=sys.stderr, flush=True)
        return EXIT_CANCELLED
    except user_errors as error:
        text = " ".join(str(error).split()) or type(error).__name__
        print(f"error: {text}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    if message:
        print(message, flush=True)
    return 0


def make_work_folder(prefix: str) -> Path:
    """A new temporary folder (``<tmp>/<prefix>XXXX``) marked for :func:`remove_work_folder`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / WORK_FOLDER_MARKER).write_text("temporary folder of an HCC Interventional AI worker\n", encoding="utf-8")
    return folder


def remove_work_folder(folder: str | os.PathLike | None) -> None:
    """Remove a work folder made by :func:`make_work_folder` (a folder without the marker is left alone)."""
    if folder is not None and (Path(folder) / WORK_FOLDER_MARKER).is_file():
        shutil.rmtree(folder, ignore_errors=True)


class WorkerRunner(ProcessRunner):
    """A :class:`ProcessRunner` on a temporary work folder ``folder`` (inputs, and the worker's ``output`` once
    it succeeded). Cancel, or a worker that fails, removes ``folder``; after success the caller reads
    ``output`` and then calls :func:`remove_work_folder`."""

    def __init__(self, command: Sequence[str], folder: Path, output: Path, **options: Any) -> None:
        super().__init__(command, cwd=folder, **options)
        self.folder = folder
        self.output = output

    def cancel(self) -> None:
        super().cancel()
        remove_work_folder(self.folder)

    def poll(self) -> int | None:
        code = super().poll()
        if code not in (None, 0):
            remove_work_folder(self.folder)
        return code


def worker_python(explicit: str | None = None) -> str:
    """The Python that runs workers: ``explicit``, else Slicer's ``PythonSlicer`` (beside the running executable
    or on the PATH), else ``sys.executable``."""
    if explicit:
        return str(explicit)
    for name in ("PythonSlicer", "PythonSlicer.exe"):
        beside = Path(sys.executable).with_name(name)
        if beside.is_file():
            return str(beside)
    return shutil.which("PythonSlicer") or sys.executable


def start_worker(module: str, arguments: Sequence[str | os.PathLike], folder: Path, output: Path, *,
                 packages: Sequence[str] = ("HCCInterventionalAILib",), python: str | None = None,
                 log: LogCallback | None = None, progress: ProgressCallback | None = None,
                 start: bool = True) -> WorkerRunner:
    """Module side: run ``python -m module arguments`` on a work folder of :func:`make_work_folder`.

    The folders holding ``packages`` go first on the worker's ``PYTHONPATH`` (``PythonSlicer`` does not know
    the module folders that Slicer adds to its own path).

    Args:
        module: the worker module, e.g. ``"HCCInterventionalAILib.models.worker"``.
        arguments: its command-line arguments.
        folder: the work folder (the worker's current folder; removed on cancel or failure).
        output: the file or folder the worker writes (inside ``folder``).
        packages: importable top-level packages the worker needs.
        python: the Python to run (:func:`worker_python` chooses when None).
        log, progress: callbacks of the :class:`ProcessRunner`.
        start: start the process (else the caller calls ``start()`` or ``run()``).

    Returns:
        The :class:`WorkerRunner`.
    """
    import importlib

    paths = [str(Path(importlib.import_module(name).__file__).resolve().parents[1]) for name in packages]
    python_path = os.pathsep.join(dict.fromkeys([*paths, *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [worker_python(python), "-m", module, *map(str, arguments)]
    runner = WorkerRunner(command, folder, output, log=log, progress=progress, env={"PYTHONPATH": python_path})
    return runner.start() if start else runner
