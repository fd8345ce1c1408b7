"""Writing files safely (temporary name, then rename) and recording run information."""
import contextlib
import errno
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile

from toolkit.errors import FacenetError, OutputError

# The repository root: the folder holding src/ and the shipped data/ files.
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def current_umask():
    """The process umask (read without changing it for longer than a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Bytes of a file's own name kept in its temporary name (the rest is a dot, 8 random
# characters and ``.tmp``), so a name that fits the file system has a temporary name that fits.
TEMP_NAME_BASE_BYTES = 200
# atomic_path's temporary names: ``.<base>.`` + mkstemp's 8 characters + ``.tmp<ext>``.
_TEMPORARY_NAME = re.compile(r'^\..*\.[a-z0-9_]{8}\.tmp(\.[^.]*)?$')


# What writing a file can fail with (an OSError without a file name, e.g. from write()).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                 errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.EIO}


def temporary_prefix(base):
    """The hidden prefix ``.<base>.`` of temporary names for a file named ``base`` + extension."""
    short = base.encode('utf-8', 'surrogateescape')[:TEMP_NAME_BASE_BYTES]
    return '.%s.' % short.decode('utf-8', 'ignore')


def is_temporary_name(name):
    """Whether ``name`` is one of atomic_path's temporary names (``.<base>.<random>.tmp<ext>``),
    which only a killed process leaves behind."""
    return bool(_TEMPORARY_NAME.match(name))


def os_error_reason(error):
    """The short reason of an OSError (``No space left on device``), without its errno."""
    return error.strerror or str(error) or type(error).__name__


def unwritable_reason(path, directory=False):
    """Why ``path`` cannot be created as a file (or a directory), or None when it looks fine.

    Checks what can be known before writing: an existing directory (or file) in its place,
    a regular file among its parent folders, a name longer than the file system allows, a
    folder (the existing output folder or the nearest existing parent) without write
    permission, and a device without free space. Folders that do not exist yet are fine
    (they will be created).
    """
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        if not directory:
            return 'it is a directory'
        if not os.access(path, os.W_OK | os.X_OK):
            return 'no permission to write in %s' % path
        return None
    if directory and os.path.lexists(path):
        return 'it is a file, not a directory'
    existing, missing = os.path.dirname(path), [os.path.basename(path)]
    while not os.path.lexists(existing):
        existing, name = os.path.dirname(existing), os.path.basename(existing)
        missing.append(name)
    if not os.path.isdir(existing):
        return '%s is not a directory' % existing
    try:
        name_max = os.pathconf(existing, 'PC_NAME_MAX')
    except (OSError, ValueError):
        name_max = 255
    for name in missing:
        if len(name.encode('utf-8', 'surrogateescape')) > name_max:
            return 'file name too long (%d bytes; the file system allows %d): %s' % (
                len(name.encode('utf-8', 'surrogateescape')), name_max, name[:40] + '...')
    if not os.access(existing, os.W_OK | os.X_OK):
        return 'no permission to write in %s' % existing
    try:
        space = os.statvfs(existing)
    except OSError:
        return None
    # The superuser may still write into the blocks reserved for it.
    if space.f_bavail == 0 and (os.geteuid() != 0 or space.f_bfree == 0):
        return 'no space left on the device of %s' % existing
    return None


def check_writable(path, what='output file', directory=False):
    """Raise FacenetError now, before any long work, when ``path`` cannot be written.

    A full disk is caught here only when it is full already; writing reports it otherwise.
    """
    reason = unwritable_reason(path, directory)
    if reason:
        raise OutputError('cannot write %s %s: %s' % (what, path, reason))


def make_dirs(path, what='output directory'):
    """``os.makedirs(path, exist_ok=True)`` with a FacenetError saying why it failed."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        reason = unwritable_reason(path, directory=True) or os_error_reason(error)
        raise OutputError('cannot create %s %s: %s' % (what, path, reason)) from None


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    Readers never see a half-written file: on an exception the temporary file is removed
    and ``path`` is left as it was. An OSError writing the temporary file (or creating the
    folder, or renaming) becomes a FacenetError naming ``path`` and the reason.
    """
    directory = os.path.dirname(os.path.abspath(path))
    base, ext = os.path.splitext(os.path.basename(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(prefix=temporary_prefix(base), suffix='.tmp' + ext,
                                        dir=directory)
        os.close(fd)
    except OSError as error:
        raise _write_error(path, error) from None
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    except OSError as error:
        if not (error.filename in (tmp_path, path)
                or (error.filename is None and error.errno in _WRITE_ERRNOS)):
            raise  # about something else (an input read, a network download)
        raise _write_error(path, error) from None
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def _write_error(path, error):
    return OutputError('cannot write %s: %s'
                       % (path, unwritable_reason(path) or os_error_reason(error)))


@contextlib.contextmanager
def atomic_open(path, mode='w'):
    """Open a file for writing that appears at ``path`` only once it is complete."""
    with atomic_path(path) as tmp_path:
        with open(tmp_path, mode) as handle:
            yield handle


def git_revision(src_path):
    """Return ``(revision, diff)`` of the git checkout holding ``src_path``, or placeholders."""
    def git(*command):
        result = subprocess.run(['git', *command], cwd=src_path, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None
    try:
        revision = git('rev-parse', 'HEAD')
        diff = git('diff', 'HEAD')
    except OSError:
        revision = diff = None
    return revision or 'unknown (not a git checkout)', diff or ''


def tensorflow_version():
    """The installed TensorFlow's version, read without importing it (seconds saved)."""
    if 'tensorflow' in sys.modules:
        return sys.modules['tensorflow'].__version__
    try:
        return importlib.metadata.version('tensorflow')
    except importlib.metadata.PackageNotFoundError:
        return 'not installed'


def store_revision_info(src_path, output_dir, arg_string):
    """Write ``revision_info.txt`` (command line, versions, git revision and diff) to output_dir."""
    revision, diff = git_revision(src_path)
    with atomic_open(os.path.join(output_dir, 'revision_info.txt')) as handle:
        handle.write('arguments: %s\n' % arg_string)
        handle.write('--------------------\n')
        handle.write('tensorflow version: %s\n' % tensorflow_version())
        handle.write('--------------------\n')
        handle.write('git hash: %s\n' % revision)
        handle.write('--------------------\n')
        handle.write('git diff: %s\n' % diff)


def write_arguments_to_file(args, filename):
    """Write each argument as ``name: value``, one per line.

    Args:
        args: ``{name: value}``, or parsed arguments (the classic API).
    """
    values = args if isinstance(args, dict) else vars(args)
    with atomic_open(filename) as handle:
        for key, value in sorted(values.items()):
            handle.write('%s: %s\n' % (key, value))


def repository_file(path):
    """``path`` with ``~`` expanded; a relative path that does not exist from the current
    folder but does under the repository root (the shipped ``data/pairs.txt`` and learning
    rate schedules, which the classic defaults name) is taken from there."""
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded) or os.path.exists(expanded):
        return expanded
    in_repository = os.path.join(REPOSITORY_ROOT, expanded)
    return in_repository if os.path.exists(in_repository) else expanded


def require_file(path, what='file'):
    """Raise FacenetError unless ``path`` is an existing file (not a folder)."""
    if os.path.isdir(path):
        raise FacenetError('%s %s is a directory, not a file' % (what, path))
    if not os.path.isfile(path):
        raise FacenetError('%s not found: %s' % (what, path))


def require_dir(path, what='directory'):
    """Raise FacenetError unless ``path`` is an existing directory."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise FacenetError('%s %s is a file, not a directory' % (what, path))
    if not os.path.isdir(path):
        raise FacenetError('%s not found: %s' % (what, path))


class NewFolders:
    """Output folders a run creates, removed again when the run fails before ``keep()``.

    A run that stops on a bad input should leave nothing behind: no empty run folder, no
    lone ``arguments.txt`` or ``revision_info.txt``. Entering creates the folders; leaving
    by an exception before ``keep()`` removes each folder this object created, with the
    files the run wrote into it, and the parent folders created for them once they are
    empty (another process may be using a parent folder, so a non-empty one stays). Once
    the real work has begun, call ``keep()``: its outputs are then kept whatever happens.
    """

    def __init__(self, paths, what='output directory'):
        self.paths = [os.path.abspath(os.path.expanduser(path)) for path in paths]
        self.what = what
        self.created = []  # (folder, the parents created for it, innermost first)
        self.kept = False

    def __enter__(self):
        for path in self.paths:
            parents, parent = [], os.path.dirname(path)
            while not os.path.lexists(parent):
                parents.append(parent)
                parent = os.path.dirname(parent)
            existed = os.path.isdir(path)
            make_dirs(path, self.what)
            if not existed:
                self.created.append((path, parents))
        return self

    def keep(self):
        self.kept = True

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None and not self.kept:
            self.remove()
        return False

    def remove(self):
        """Remove the created folders (with their files) and their created, empty parents."""
        for path, parents in reversed(self.created):
            shutil.rmtree(path, ignore_errors=True)
            for parent in parents:
                try:
                    os.rmdir(parent)
                except OSError:
                    break  # not empty (another run's folder) or gone
        self.created = []
