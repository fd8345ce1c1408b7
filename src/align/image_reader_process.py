"""Reading images and their P-Net pyramids in a child process, for ``dataset_aligner.ImageReader``.

Reader threads share the interpreter lock with the thread that imports TensorFlow and builds
the detector (Python code for about a second at start-up): sampled then, the aligner kept
only 1.12 to 1.14 cores busy. A child process has its own interpreter, so it decodes and
resizes on the core that start-up leaves idle, and later beside the detector's workers. It
is a fresh Python (``align/image_reader_child.py``) with no file descriptor but its pipes, so it holds none of the
aligner's locks, and it exits when its input closes, also when the aligner is killed.

Protocol: the parent writes requests (``REQUEST``, ``<I`` path length, path bytes) and, for
each answer it has passed on, an acknowledgement (``TAKEN``). The child answers every request
in order with one byte: ``IMAGE`` then ``<IIH`` height, width and number of levels
(``NO_PYRAMID`` for an image read without its pyramid), ``<II`` per level, and the pixels
(uint8, three channels; the image, then the levels); or ``ERROR`` / ``BOMB`` then ``<I``
length and the message of the ``FacenetError`` / ``DecompressionBombError``; or ``FAILED``
(anything else: the parent reads that image itself). The child reads ahead while the pixels
it answered that the parent has not passed on stay within ``ahead_bytes`` (one image at
least).
"""
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future

import cv2
import numpy as np
from PIL import Image

from align import dataset_aligner, detect_face
from toolkit.errors import FacenetError

IMAGE, ERROR, BOMB, FAILED = b'I', b'E', b'B', b'F'
REQUEST, TAKEN = b'R', b'T'
NO_PYRAMID = 0xFFFF
_LENGTH = struct.Struct('<I')
_IMAGE = struct.Struct('<IIH')
_LEVEL = struct.Struct('<II')
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'image_reader_child.py')


def start(minsize, factor, ahead_bytes=dataset_aligner.READ_AHEAD_BYTES):
    """A ``ReaderProcess``, or None when no child process can be started (the caller then
    reads in threads)."""
    try:
        return ReaderProcess(minsize, factor, ahead_bytes)
    except OSError:
        return None


class ReaderProcess:
    """A child process reading image files (and, for images of at most
    ``dataset_aligner.PYRAMID_AHEAD_PIXELS``, their pyramids at ``minsize`` and ``factor``).

    ``submit(path)`` returns a Future of ``(image, levels or None)``, raising what
    ``read_image_and_pyramid`` would raise, or giving None when the child failed otherwise
    or is gone (the caller then reads the image itself); ``taken(future)`` says that its
    answer was passed on (the child reads ahead by ``ahead_bytes`` of pixels beyond what was
    passed on). ``close`` ends the child.
    """

    def __init__(self, minsize, factor, ahead_bytes):
        self._process = subprocess.Popen(
            [sys.executable, CHILD, repr(minsize), repr(factor),
             str(ahead_bytes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pending = queue.SimpleQueue()  # futures in request order
        self._lock = threading.Lock()
        self._broken = False
        self._futures = set()  # submitted to the child and not yet taken
        self._receiver = threading.Thread(target=self._receive, name='image-reader-process',
                                          daemon=True)
        self._receiver.start()

    def submit(self, path):
        future = Future()
        future.set_running_or_notify_cancel()
        data = os.fsencode(path)
        with self._lock:
            if not self._broken:
                try:
                    self._send(REQUEST + _LENGTH.pack(len(data)) + data)
                    self._pending.put(future)
                    self._futures.add(future)
                    return future
                except (OSError, ValueError):
                    self._broken = True
        future.set_result(None)
        return future

    def taken(self, future):
        """The answer of ``future`` (one of ``submit``'s) was passed on: the child may read
        further."""
        with self._lock:
            if future in self._futures and not self._broken:
                self._futures.discard(future)
                try:
                    self._send(TAKEN)
                except (OSError, ValueError):
                    self._broken = True

    def _send(self, message):
        self._process.stdin.write(message)
        self._process.stdin.flush()

    def close(self):
        with self._lock:
            self._broken = True
            try:
                self._process.stdin.close()
            except OSError:
                pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._receiver.join()

    def _receive(self):
        stream = self._process.stdout
        try:
            while True:
                kind = stream.read(1)
                if not kind:
                    break
                result = _read_answer(kind, stream)
                future = self._pending.get()
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            with self._lock:
                self._broken = True
            while not self._pending.empty():
                self._pending.get().set_result(None)


def _read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise ValueError('the image reader process stopped')
    return data


def _read_pixels(stream, height, width):
    pixels = np.empty((height, width, 3), np.uint8)
    view, done = memoryview(pixels).cast('B'), 0
    while done < pixels.nbytes:
        count = stream.readinto(view[done:])
        if not count:
            raise ValueError('the image reader process stopped')
        done += count
    return pixels


def _read_answer(kind, stream):
    """One answer of the child: ``(image, levels)``, an exception to raise, or None."""
    if kind == IMAGE:
        height, width, nrof_levels = _IMAGE.unpack(_read_exactly(stream, _IMAGE.size))
        sizes = [_LEVEL.unpack(_read_exactly(stream, _LEVEL.size))
                 for _ in range(0 if nrof_levels == NO_PYRAMID else nrof_levels)]
        image = _read_pixels(stream, height, width)
        levels = {size: _read_pixels(stream, *size) for size in sizes}
        return image, (None if nrof_levels == NO_PYRAMID else levels)
    if kind in (ERROR, BOMB):
        length, = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
        message = _read_exactly(stream, length).decode('utf-8', 'surrogateescape')
        if kind == ERROR:
            return FacenetError(message)
        return Image.DecompressionBombError(message)
    if kind == FAILED:
        return None
    raise ValueError('unexpected answer from the image reader process')


# -- the child ------------------------------------------------------------------------------

class _Budget:
    """The child's read-ahead: pixels answered and not yet passed on by the parent. Answers
    and their passing on both come in request order; the parent may pass an answer on
    before it came (it then waits for it)."""

    def __init__(self, ahead_bytes):
        self.ahead_bytes = ahead_bytes
        self._condition = threading.Condition()
        self._unpassed = deque()  # bytes of each answer not yet passed on
        self._passed_ahead = 0  # answers passed on before they were given
        self.closed = False  # the parent is gone or done

    def wait_for_room(self):
        with self._condition:
            while not self.closed and self._unpassed and sum(self._unpassed) >= self.ahead_bytes:
                self._condition.wait()

    def close(self):
        with self._condition:
            self.closed = True
            self._condition.notify_all()

    def answered(self, nbytes):
        with self._condition:
            if self._passed_ahead:
                self._passed_ahead -= 1
            else:
                self._unpassed.append(nbytes)

    def taken(self):
        with self._condition:
            if self._unpassed:
                self._unpassed.popleft()
            else:
                self._passed_ahead += 1
            self._condition.notify_all()


def _requests(stream, paths, budget):
    """Read every message as it arrives (so that the parent never waits to write one)."""
    while True:
        kind = stream.read(1)
        if kind == TAKEN:
            budget.taken()
            continue
        header = stream.read(_LENGTH.size)
        if kind != REQUEST or len(header) != _LENGTH.size:
            break
        length, = _LENGTH.unpack(header)
        data = stream.read(length)
        if len(data) != length:
            break
        paths.put(os.fsdecode(data))
    budget.close()
    paths.put(None)


def _answer(path, minsize, factor):
    """The parts of the answer to one request, and the bytes of its pixels."""
    try:
        image, levels = dataset_aligner.read_image_and_pyramid(
            path, lambda img: detect_face.pyramid_levels(img, minsize, factor))
    except (FacenetError, Image.DecompressionBombError) as error:
        message = str(error).encode('utf-8', 'surrogateescape')
        kind = ERROR if isinstance(error, FacenetError) else BOMB
        return [kind, _LENGTH.pack(len(message)), message], 0
    except Exception:  # noqa: BLE001 - the parent reads this image itself and reports it
        return [FAILED], 0
    arrays = [image] + list((levels or {}).values())
    if any(a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 for a in arrays):
        return [FAILED], 0
    parts = [IMAGE, _IMAGE.pack(image.shape[0], image.shape[1],
                                NO_PYRAMID if levels is None else len(levels))]
    parts += [_LEVEL.pack(*size) for size in levels or {}]
    parts += [np.ascontiguousarray(a).data for a in arrays]
    return parts, sum(a.nbytes for a in arrays)


def _write_answers(answers, stream, budget):
    try:
        while True:
            parts = answers.get()
            if parts is None:
                break
            for part in parts:
                stream.write(part)
            stream.flush()
    except OSError:  # the parent is gone
        budget.close()


def main(minsize, factor, ahead_bytes):
    """The child's loop: answer requests until the parent closes the input."""
    budget = _Budget(ahead_bytes)
    # The answers go to the original standard output; anything a library prints goes to
    # standard error instead of into them.
    stream = os.fdopen(os.dup(1), 'wb')
    os.dup2(2, 1)
    # The parent ends this process by closing its input (also when it is killed); Ctrl-C
    # in a terminal reaches the parent, which then does so.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    paths, answers = queue.SimpleQueue(), queue.SimpleQueue()
    threading.Thread(target=_requests, args=(sys.stdin.buffer, paths, budget),
                     daemon=True).start()
    # A thread writes the answers, so that reading goes on while the parent is busy.
    writer = threading.Thread(target=_write_answers, args=(answers, stream, budget),
                              daemon=True)
    writer.start()
    while True:
        path = paths.get()
        budget.wait_for_room()
        if path is None or budget.closed:
            break
        parts, nbytes = _answer(path, minsize, factor)
        budget.answered(nbytes)
        answers.put(parts)
    answers.put(None)
    writer.join()
    return 0
