"""Writing files safely (temporary name, then rename) and recording run information."""
import contextlib
import os
import subprocess
import tempfile

from toolkit.errors import FacenetError

# The repository root: the folder holding src/ and the shipped data/ files.
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def current_umask():
    """The process umask (read without changing it for longer than a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    Readers never see a half-written file: on an exception the temporary file is removed
    and ``path`` is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp_path = tempfile.mkstemp(prefix='.%s.' % base, suffix='.tmp' + ext, dir=directory)
    os.close(fd)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


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


def store_revision_info(src_path, output_dir, arg_string):
    """Write ``revision_info.txt`` (command line, versions, git revision and diff) to output_dir."""
    from toolkit.tf_compat import tf2 as tensorflow
    revision, diff = git_revision(src_path)
    with atomic_open(os.path.join(output_dir, 'revision_info.txt')) as handle:
        handle.write('arguments: %s\n' % arg_string)
        handle.write('--------------------\n')
        handle.write('tensorflow version: %s\n' % tensorflow.__version__)
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
    """Raise FacenetError unless ``path`` is an existing file."""
    if not os.path.isfile(path):
        raise FacenetError('%s not found: %s' % (what, path))


def require_dir(path, what='directory'):
    """Raise FacenetError unless ``path`` is an existing directory."""
    if not os.path.isdir(path):
        raise FacenetError('%s not found: %s' % (what, path))
