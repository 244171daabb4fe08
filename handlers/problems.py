"""A problem the repository's owners must fix: said once, naming the file, the line and the fix."""

from __future__ import annotations


class Problem(Exception):
    """Invalid Pipfile or `.thoth.yaml`, unknown node class, adviser failure..."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        fix: str,
        line: int | None = None,
        detail: str | None = None,
    ):
        super().__init__(message)
        self.path = path
        self.message = message
        self.fix = fix
        self.line = line
        self.detail = detail  # a tool's own words (bounded), shown in a code block

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def __repr__(self) -> str:
        return f"Problem({self.where!r}, {self.message!r}, fix={self.fix!r})"
