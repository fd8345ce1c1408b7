"""The aligner processes running on this machine, counted so that they share its cores.

Each aligner process holds a locked file ``<pid>.lock`` in a folder of the machine's
temporary directory while it runs (``LocalAligners`` as a context manager). ``count`` tells
how many such processes are alive: a file whose lock can be taken belongs to a process that
died and is removed. An aligner that knows it shares the machine with others takes its
share of the cores (``cores_share``) instead of all of them, so that several processes
started together (``for N in {1..4}; do ... --random_order & done``) do not run more threads
than there are cores.

A process's file appears under its final name only once it is locked (it is written under
a temporary name and renamed), so a counting process never takes a starting one for dead.
Without ``fcntl`` (not POSIX) every process counts itself alone.
"""
import os
import tempfile

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

SUFFIX = '.lock'


def default_directory():
    """``<tmp>/facenet-aligners-<uid>``: one folder per user and machine."""
    uid = os.getuid() if hasattr(os, 'getuid') else 0
    return os.path.join(tempfile.gettempdir(), 'facenet-aligners-%d' % uid)


def cores_share(cores, nrof_processes):
    """Cores for one of ``nrof_processes`` aligners on ``cores`` cores (at least one)."""
    return max(1, cores // max(1, nrof_processes))


class LocalAligners:
    """This process's entry among the machine's running aligners; ``count()`` counts them all.

    Args:
        directory: the folder of the entries (``default_directory()``).
    """

    def __init__(self, directory=None):
        self.directory = directory or default_directory()
        self._fd = None
        self.path = os.path.join(self.directory, '%d%s' % (os.getpid(), SUFFIX))

    def __enter__(self):
        if fcntl is None:
            return self
        os.makedirs(self.directory, exist_ok=True)
        temporary = self.path + '.new'
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.replace(temporary, self.path)
        self._fd = fd
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        if self._fd is not None:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            os.close(self._fd)  # the lock goes with the descriptor
            self._fd = None

    def count(self):
        """Aligner processes alive on this machine, this one included (at least 1)."""
        if fcntl is None or self._fd is None:
            return 1
        alive = 1
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return alive
        for name in names:
            path = os.path.join(self.directory, name)
            if not name.endswith(SUFFIX) or path == self.path:
                continue
            if _held_by_a_living_process(path):
                alive += 1
        return alive


def _held_by_a_living_process(path):
    """True while another process holds ``path``'s lock; a dead process's file is removed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        try:
            os.remove(path)
        except OSError:
            pass
        return False
    finally:
        os.close(fd)
