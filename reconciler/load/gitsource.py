"""Git access: the only gitpython user.

load/ (step: load), the git edge (with `desired`). Finds the repository around a directory, the HEAD
commit and dirty flag, and reads the files of a directory at any revision without a
checkout. May import: git, `errors`. Every git failure becomes a `GitError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from reconciler.core.errors import GitError

if TYPE_CHECKING:
    import git

# gitpython is imported by the functions that use it: importing it costs about 0.1 s,
# which commands that never ask git anything (test, validate, explain) need not pay.


@dataclass(frozen=True)
class Revision:
    commit: str | None  # None outside a repository, or in a repository with no commits
    dirty: bool


NO_REVISION = Revision(None, False)


def open_repo(path: Path) -> git.Repo | None:
    """The repository containing `path`, or None when it is not inside one."""
    import git
    from git.exc import InvalidGitRepositoryError, NoSuchPathError

    try:
        return git.Repo(path, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None


def working_revision(path: Path, paths: Sequence[Path] = ()) -> Revision:
    """HEAD and whether the working tree differs from it under `paths` (all of it when
    none are given); untracked files count, ignored ones do not. The desired state
    passes its own files, so a `.venv/` or a report left beside them is not a change."""
    repo = open_repo(path)
    if repo is None:
        return NO_REVISION
    try:
        commit = repo.head.commit.hexsha
    except ValueError:  # unborn branch: no commits yet
        return Revision(None, True)
    if not paths:
        return Revision(commit, repo.is_dirty(untracked_files=True))
    from git.exc import GitCommandError

    # One `git status` for the index, the work tree and untracked files together.
    try:
        status = repo.git.status("--porcelain", "--untracked-files=all", "--",
                                 *(str(p) for p in paths))
    except GitCommandError:  # a path outside the repository (a symlinked policies/)
        return Revision(commit, repo.is_dirty(untracked_files=True))
    return Revision(commit, bool(status.strip()))


def resolve(path: Path, ref: str) -> str:
    """The full commit SHA that `ref` names in the repository around `path`."""
    from git.exc import BadName, GitCommandError

    repo = _require_repo(path)
    try:
        return repo.commit(ref).hexsha
    except (BadName, ValueError, GitCommandError) as e:
        raise GitError(
            f'unknown git revision "{ref}"',
            "Give a branch, tag or commit that exists in this repository.",
        ) from e


def read_tree(path: Path, ref: str, directory: Path) -> list[tuple[str, bytes]]:
    """(path relative to the repository root, contents) of every file under `directory`
    as it is at `ref`, sorted by path. Reads objects directly; no checkout."""
    from git.objects import Blob, Tree

    repo = _require_repo(path)
    root = Path(repo.working_tree_dir or path).resolve()
    try:
        rel = PurePosixPath(directory.resolve().relative_to(root).as_posix())
    except ValueError as e:
        raise GitError(f"{directory} is outside the repository at {root}") from e
    commit_sha = resolve(path, ref)
    tree = repo.commit(commit_sha).tree
    try:
        sub = tree if str(rel) in ("", ".") else tree / str(rel)
    except KeyError as e:
        raise GitError(
            f'"{rel}" does not exist at revision {ref}',
            "Check the revision, or the policies directory in reconciler.yaml.",
        ) from e
    if not isinstance(sub, Tree):
        raise GitError(f'"{rel}" is not a directory at revision {ref}')
    files = [
        (str(blob.path), blob.data_stream.read()) for blob in sub.traverse()
        if isinstance(blob, Blob)
    ]
    return sorted(files)


def read_file(path: Path, ref: str, file: Path) -> bytes | None:
    """The contents of `file` as it is at `ref`, or None when it does not exist there."""
    repo = _require_repo(path)
    root = Path(repo.working_tree_dir or path).resolve()
    try:
        rel = file.resolve().relative_to(root).as_posix()
        blob = repo.commit(resolve(path, ref)).tree / rel
    except (ValueError, KeyError):
        return None
    data: bytes = blob.data_stream.read()
    return data


def missing_from_shallow_clone(path: Path, commit: str) -> bool:
    """`commit` is not in the repository around `path`, which is a shallow clone (so
    the history that holds it was cut off, not rewritten: fetching it would help)."""
    from git.exc import BadName, GitCommandError

    repo = open_repo(path)
    if repo is None or not (Path(repo.git_dir) / "shallow").exists():
        return False
    try:
        repo.commit(commit).tree  # noqa: B018  (the object must be readable, not named)
    except (BadName, ValueError, GitCommandError):
        return True
    return False


def noted_commits(path: Path, *, ref: str = "reconciler", limit: int = 200
                  ) -> list[tuple[str, str]]:
    """(commit, note text) for the commits of HEAD's history that carry a note in
    refs/notes/<ref>, newest first; [] without notes or a repository."""
    from git.exc import GitCommandError

    repo = open_repo(path)
    if repo is None:
        return []
    try:
        out = repo.git.log(f"--notes={ref}", "--format=%H%x00%N%x1e", "-n", str(limit))
    except (GitCommandError, ValueError):
        return []
    found = []
    for record in out.split("\x1e"):
        commit, _, note = record.strip().partition("\x00")
        if commit and note.strip():
            found.append((commit, note.strip()))
    return found


def recent_commits(path: Path, directory: Path, limit: int) -> list[str]:
    """The newest `limit` commits of HEAD's history that changed `directory`."""
    from git.exc import GitCommandError

    repo = open_repo(path)
    if repo is None:
        return []
    try:
        out = repo.git.log("--format=%H", "-n", str(limit), "--", str(directory))
    except (GitCommandError, ValueError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def root_of(path: Path) -> Path | None:
    repo = open_repo(path)
    return Path(repo.working_tree_dir).resolve() if repo and repo.working_tree_dir else None


def add_note(path: Path, commit: str, message: str, *, ref: str = "reconciler") -> None:
    """Attach `message` as a git note (namespace refs/notes/<ref>) to `commit`."""
    from git.exc import GitCommandError

    repo = _require_repo(path)
    try:
        repo.git.notes("--ref", ref, "append", "-m", message, commit)
    except GitCommandError as e:
        raise GitError(f"could not add a git note to {commit[:12]}", str(e.stderr).strip()) from e


def notes(path: Path, *, ref: str = "reconciler") -> list[tuple[str, str]]:
    """Every (commit, note text) under refs/notes/<ref>, newest commit first (history's
    topological order; notes on commits outside it last). Empty when there is no ref."""
    from git.exc import GitCommandError

    repo = _require_repo(path)
    try:
        listing = repo.git.notes("--ref", ref, "list")
    except GitCommandError:
        return []
    order = {sha: i for i, sha in enumerate(repo.git.rev_list("--topo-order", "--all")
                                            .splitlines())}
    commits = sorted((line.partition(" ")[2] for line in listing.splitlines()),
                     key=lambda c: order.get(c, len(order)))
    return [(c, repo.git.notes("--ref", ref, "show", c)) for c in commits]


APPLY_NOTE_PREFIX = "reconciler apply "


def recorded_applies(path: Path, *, ref: str = "reconciler") -> list[dict[str, str]]:
    """The applies recorded in the audit notes, newest first, each the `key=value` fields
    of one `reconciler apply ...` line (target, etag_before, etag_after, at; from the
    Action also actor, pull_request, run) plus the commit it annotates.

    Notes come newest commit first (applies on main follow the merges, and times within
    one second would not order them); within one commit, the latest line first. Other
    lines of a note are left alone."""
    out = []
    for commit, text in notes(path, ref=ref):
        entries = [e for e in text.splitlines() if e.startswith(APPLY_NOTE_PREFIX)]
        for entry in reversed(entries):
            fields = dict(tok.split("=", 1) for tok in entry[len(APPLY_NOTE_PREFIX):].split()
                          if "=" in tok)
            out.append({"commit": commit, **fields})
    return out


def _require_repo(path: Path) -> git.Repo:
    repo = open_repo(path)
    if repo is None:
        raise GitError(
            f"{path} is not inside a git repository",
            "Run this from a git checkout, or leave out --ref to read the working tree.",
        )
    return repo


def init_repo(path: Path) -> bool:
    """Make `path` a git repository unless it is inside one already; True if created."""
    import git
    from git.exc import GitCommandError

    if open_repo(path) is not None:
        return False
    try:
        git.Repo.init(path)
    except GitCommandError as e:
        raise GitError(f"could not create a git repository in {path}", str(e.stderr)) from e
    return True
