"""Exactly-once work claims for processes aligning one dataset at the same time.

Every image has a claim file, ``<output_dir>/.align_claims/<class>/<image>.claim``. A process
works on an image only while it holds an exclusive ``flock`` on that file, and it writes
``done`` into the file before letting go, so:

* two processes never work on the same image (the lock is taken atomically by the kernel);
* an image marked done is never taken again, whether it gave faces or not;
* a killed process's locks vanish with it: its unfinished images (a claim file without
  ``done``: a *stale* claim) are taken again by the next run, which first removes the
  half-written temporary files the killed process may have left (``remove_partial_outputs``);
* before appending an image's bounding-box lines a process notes in the claim file where
  they go (``pending``), so a run resuming after a kill between the append and ``done``
  finds them and does not write them a second time.

The claims folder is hidden, so ``get_dataset`` on the output folder ignores it. Locks need a
POSIX system; on a filesystem shared between machines they need working ``flock`` (Linux NFS
maps it to NFS locks). Without ``fcntl`` (Windows) the done markers still make a rerun resume,
but parallel processes are not coordinated.
"""
import errno
import os
import re
import socket
import time
import zlib

from toolkit.fileio import temporary_prefix

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

CLAIMS_DIR_NAME = '.align_claims'
DONE = 'done'
PENDING = 'pending'
# Seconds between a claim's attempts at a claim file's lock (see _lock_past_probes).
PROBE_PAUSES = (0.001, 0.01)


class Claim:
    """The right to align one image, held as an open, locked claim file.

    Attributes:
        stale: True when a process that died (or an interrupted run) had claimed the image
            before: its partial outputs should be removed before writing new ones.
        pending: for a stale claim, the ``(file name, offset, length, crc32)`` of the
            bounding-box lines its process was appending when it died (see
            ``record_pending``), else None.
    """

    def __init__(self, fd, path, stale, previous=''):
        self._fd = fd
        self.path = path
        self.stale = stale
        self.pending = _parse_pending(previous) if stale else None
        self._owner = ''

    def record_pending(self, file_name, offset, data):
        """Note, before appending them, where this image's bounding-box lines go.

        A process killed between appending the lines and ``finish`` leaves this note, so
        the next run can tell whether the lines made it (and not write them twice).
        """
        _overwrite(self._fd, '%s%s %s %d %d %d\n' % (self._owner, PENDING, file_name, offset,
                                                     len(data), zlib.crc32(data)))

    def finish(self, status):
        """Mark the image done (``status`` is a short note kept in the file) and let go."""
        _overwrite(self._fd, '%s %s\n' % (DONE, status))
        self._close()

    def release(self):
        """Let go without marking the image done: another process (or run) will redo it."""
        self._close()

    def _close(self):
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class ImageClaims:
    """The claim files of one output folder."""

    def __init__(self, output_dir):
        self.directory = os.path.join(output_dir, CLAIMS_DIR_NAME)

    def claim_path(self, class_name, image_name):
        return os.path.join(self.directory, class_name, image_name + '.claim')

    def is_done(self, class_name, image_name):
        """True when the image's claim file says done (no lock taken)."""
        try:
            with open(self.claim_path(class_name, image_name)) as handle:
                return handle.read(len(DONE)) == DONE
        except OSError:
            return False

    def is_free(self, class_name, image_name):
        """True when the image is not done and no living process holds it (no lock is
        kept and nothing is written)."""
        try:
            fd = os.open(self.claim_path(class_name, image_name), os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            if not try_lock(fd):
                return False
            return not os.pread(fd, len(DONE), 0).decode('utf-8', 'replace').startswith(DONE)
        finally:
            os.close(fd)  # lets go of the lock, if taken

    def claim(self, class_name, image_name):
        """Try to take an image.

        Returns:
            A Claim when this process should align the image now; None when it is done
            already or another living process is working on it.
        """
        path = self.claim_path(class_name, image_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _lock_past_probes(fd):
            os.close(fd)
            return None
        previous = os.pread(fd, 256, 0).decode('utf-8', 'replace')
        if previous.startswith(DONE):
            Claim(fd, path, False).release()
            return None
        claim = Claim(fd, path, stale=bool(previous), previous=previous)
        claim._owner = 'claimed by %s pid %d\n' % (socket.gethostname(), os.getpid())
        _overwrite(fd, claim._owner)
        return claim


def _parse_pending(text):
    for line in text.splitlines():
        fields = line.split(' ')
        if fields[0] == PENDING and len(fields) == 5 and all(f.isdigit() for f in fields[2:]):
            return fields[1], int(fields[2]), int(fields[3]), int(fields[4])
    return None


def _lock_past_probes(fd):
    """``try_lock``, tried again after short pauses: ``is_free`` (another process's reader
    or waiting aligner) holds a lock for microseconds, which must not pass the image off
    as held by a process that aligns it."""
    for pause in PROBE_PAUSES:
        if try_lock(fd):
            return True
        time.sleep(pause)
    return try_lock(fd)


def try_lock(fd):
    """Take ``fd``'s exclusive lock without waiting: False when another holds it (True
    without fcntl)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _overwrite(fd, text):
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode('utf-8'), 0)


def remove_partial_outputs(class_dir, image_name):
    """Remove the temporary files a killed run left while writing ``image_name``'s PNGs.

    ``fileio.atomic_path`` writes ``<name>.png`` through a hidden ``.<name>.XXXXXXXX.tmp.png``
    next to it (a very long name shortened); multiple-face runs write ``<name>_<i>.png`` the
    same way.

    Returns:
        The number of files removed.
    """
    prefix = temporary_prefix(image_name)[:-1]  # '.<name>', shortened as atomic_path does
    pattern = re.compile(r'^%s(_\d*)?\.[A-Za-z0-9_]{8}\.tmp\.png$' % re.escape(prefix))
    try:
        names = os.listdir(class_dir)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in names:
        if pattern.match(name):
            try:
                os.remove(os.path.join(class_dir, name))
                removed += 1
            except FileNotFoundError:
                pass
    return removed
