"""Where a report's notes go on the files (GitHub shows them on the diff and in the Checks
tab): each Problem on its file and line; on the Pipfile, the `[requires]` line whose Python the
bot changes (a warning: the merge request fixes it) and the line naming each package a WARNING
is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from handlers.forge import Annotation, FileContent
from handlers.pipfile import Lines
from handlers.plan import LockPlan
from handlers.problems import Problem


def of_problems(problems: Sequence[Problem]) -> tuple[Annotation, ...]:
    return tuple(
        Annotation(
            problem.path,
            problem.line or 1,
            "failure",
            f"{problem.message}. Fix: {problem.fix}",
            title="thoth-bot cannot lock this",
        )
        for problem in problems
    )


def of_plan(plan: LockPlan, files: Mapping[str, FileContent | None]) -> tuple[Annotation, ...]:
    notes: list[Annotation] = []
    for lock in plan.locks:
        path = lock.environment.pipfile_path
        content = files.get(path)
        lines = Lines(content.text if content else "")
        if lock.pipfile_text is not None:  # [requires] says another Python
            line = lines.find("requires", "python_version") or 1
            notes.append(
                Annotation(
                    path,
                    line,
                    "warning",
                    f"Runtime environment {lock.environment.name!r} runs Python "
                    f"{lock.python_version}: the lock is made for it, and this line changes with "
                    "it (`pipenv install --deploy` refuses a lock for another Python).",
                    title=f"Python {lock.python_version} on this node class",
                )
            )
        for entry in lock.guidance:
            if entry.type not in ("WARNING", "ERROR") or not entry.package:
                continue
            line = lines.find("packages", entry.package) or lines.find(
                "dev-packages", entry.package
            )
            notes.append(
                Annotation(
                    path,
                    line or 1,
                    "warning" if entry.type == "WARNING" else "failure",
                    entry.message + (f" ({entry.link})" if entry.link else ""),
                    title=f"{entry.package} on {lock.environment.node_class.name}",
                )
            )
    return tuple(notes)
