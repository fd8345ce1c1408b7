"""The aligner processes running on this machine, so that together they use its cores once.

Each aligner process holds a locked file ``<pid>.lock`` in a folder of the machine's
temporary directory while it runs (``LocalAligners`` as a context manager); the file holds
when the process registered, whether it is ``active`` (aligning) or ``waiting``, and its
output folder. A file whose lock can be taken belongs to a process that died and is removed.

* Sharing: an active aligner that is not alone on the machine takes its share of the cores
  (``cores_share(cores, count_active())``) instead of all of them.
* Queueing: of the aligners of one output folder, the first ``folder_slots(cores)`` (one per
  two cores) to register are active; a later one waits (``wait_for_a_core``) without loading
  TensorFlow, and leaves when no image is left for it, or becomes active when an active one
  of its folder exits while work is left. Every process then still pays TensorFlow's
  start-up only when it can use the cores: four processes started together on two cores do
  the work of one, not the start-up of four.

Registration order is the registration time, then the process id. Without ``fcntl`` (not
POSIX) every process counts itself alone and never waits.
"""
import dataclasses
import os
import tempfile
import time

from align.claims import fcntl, try_lock

SUFFIX = '.lock'
# One aligner keeps two cores busy (one worker's network runs overlap another's box work):
# on the 2-core machine, idle, two single-core aligners of one folder took about 50% more
# CPU per image than one on both cores (tmp/bench_align.py: 22.2 against 13.4 CPU s for 400
# images, two TensorFlow start-ups against one).
CORES_PER_ALIGNER = 2
ACTIVE = 'active'
WAITING = 'waiting'


def default_directory():
    """``<tmp>/facenet-aligners-<uid>``: one folder per user and machine."""
    uid = os.getuid() if hasattr(os, 'getuid') else 0
    return os.path.join(tempfile.gettempdir(), 'facenet-aligners-%d' % uid)


def folder_slots(cores):
    """Aligners of one folder worth running at once on ``cores`` cores: one per
    ``CORES_PER_ALIGNER`` (at least one)."""
    return max(1, cores // CORES_PER_ALIGNER)


def cores_share(cores, nrof_processes):
    """Cores for one of ``nrof_processes`` aligners on ``cores`` cores (at least one)."""
    return max(1, cores // max(1, nrof_processes))


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered aligner: ``(registered ns, pid)`` order, state and output folder."""

    pid: int
    registered: int
    state: str
    output_dir: str

    @property
    def order(self):
        return self.registered, self.pid


class LocalAligners:
    """This process's entry among the machine's running aligners.

    Args:
        output_dir: the folder this process aligns into.
        directory: the folder of the entries (``default_directory()``).
    """

    def __init__(self, output_dir, directory=None):
        self.output_dir = os.path.realpath(output_dir)
        self.directory = directory or default_directory()
        self.path = os.path.join(self.directory, '%d%s' % (os.getpid(), SUFFIX))
        self._fd = None
        self._registered = 0
        self.state = ACTIVE

    def __enter__(self):
        if fcntl is None:
            return self
        os.makedirs(self.directory, exist_ok=True)
        temporary = self.path + '.new'
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        self._registered = time.time_ns()
        self._write(WAITING)
        # Under its final name only once locked: a counting process never takes it for dead.
        os.replace(temporary, self.path)
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

    def _write(self, state):
        self.state = state
        # Both states take 7 characters: rewritten in place, a reader never sees it empty.
        text = '%d %-7s\n%s\n' % (self._registered, state, self.output_dir)
        os.pwrite(self._fd, text.encode('utf-8', 'surrogateescape'), 0)

    def others(self):
        """The other living aligners' entries (dead ones' files are removed)."""
        if self._fd is None:
            return []
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        entries = []
        for name in names:
            path = os.path.join(self.directory, name)
            if name.endswith(SUFFIX) and path != self.path:
                entry = _living_entry(path)
                if entry is not None:
                    entries.append(entry)
        return entries

    def count_active(self):
        """Active aligners on this machine, this one included (at least 1)."""
        return 1 + sum(entry.state == ACTIVE for entry in self.others())

    def ahead_of_me(self):
        """Living aligners of this output folder that registered before this one."""
        mine = (self._registered, os.getpid())
        return sum(entry.output_dir == self.output_dir and entry.order < mine
                   for entry in self.others())

    def wait_for_a_core(self, cores, work_left, log, poll_seconds=0.5):
        """Become active when fewer than ``folder_slots(cores)`` aligners of this folder
        registered first; until then wait, checking every ``poll_seconds``.

        Args:
            work_left: function, False once no image is left for this process.
            log: function taking one line (said once when waiting starts).

        Returns:
            True when this process is now active and work is left for it, False when the
            work was done by the others meanwhile.
        """
        slots = folder_slots(cores)
        ahead = self.ahead_of_me()
        if ahead >= slots:
            log('%d aligner processes of this output folder started before this one, for '
                'this machine\'s %d cores (%d at a time): waiting for one of them to finish'
                % (ahead, cores, slots))
            while self.ahead_of_me() >= slots:
                if not work_left():
                    return False
                time.sleep(poll_seconds)
            if not work_left():
                return False
        if self._fd is not None:
            self._write(ACTIVE)
        return True


def _living_entry(path):
    """The entry of ``path`` while another process holds its lock; None (and the file
    removed) when its process died; None for a file that vanished or is unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if not try_lock(fd):
            return _parse(path, os.pread(fd, 8192, 0))
        try:
            os.remove(path)
        except OSError:
            pass
        return None
    finally:
        os.close(fd)


def _parse(path, data):
    try:
        head, output_dir = data.decode('utf-8', 'surrogateescape').split('\n')[:2]
        registered, state = head.split(' ', 1)
        state = state.strip()
        pid = int(os.path.basename(path)[:-len(SUFFIX)])
        return Entry(pid, int(registered), state, output_dir)
    except ValueError:
        return None
