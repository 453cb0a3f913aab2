"""The tool's own errors: each one says which file, which field and the fix."""

from __future__ import annotations

from pathlib import Path


class SiteBuilderError(Exception):
    """An error the user can act on; the CLI prints it and exits 1, no traceback."""

    def __init__(self, message: str, *, path: Path | str | None = None, key: str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.key = key
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path
            if self.key:
                where += f": {self.key}"
            where += ": "
        elif self.key:
            where = f"{self.key}: "
        return f"{where}{self.message}"


class SpecError(SiteBuilderError):
    """``challenge.yaml`` or ``submission.yaml`` does not match the expected form."""


class PredictionsError(SiteBuilderError):
    """A predictions file breaks the file contract; nothing is recorded."""


class PrivateDataError(SiteBuilderError):
    """The age identity is missing or does not open the private solution."""


class SubmissionError(SiteBuilderError):
    """A submission folder breaks the folder contract."""


class RenderError(SiteBuilderError):
    """The site cannot be built or written where asked."""
