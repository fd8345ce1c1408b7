"""Console output of long runs: a progress reporter, and lines written whole.

``Progress`` shows how far a loop is (items done, rate, time left). On a terminal it is a bar
redrawn in place on one line; when the stream is not a terminal (a log file, a pipe, a test's
captured output) it prints a plain line now and then (at most every ``line_interval``
seconds) and a summary line at the end, so logs stay short and readable.

``write_line`` writes a line of text with one ``write`` call and flushes it: lines of several
processes sharing one terminal or pipe never run together (a pipe keeps writes of up to 4096
bytes whole; Python's default buffering of a pipe splits them at arbitrary points).
"""
import shutil
import sys
import time

DEFAULT_LINE_INTERVAL = 30.0
DEFAULT_REDRAW_INTERVAL = 0.2
BAR_WIDTH = 30
MIN_BAR_WIDTH = 10


def write_line(text, stream=None):
    """Write ``text`` and a newline to ``stream`` (default: sys.stdout) as one write, flushed."""
    stream = sys.stdout if stream is None else stream
    stream.flush()  # whatever the stream holds goes first, in its own write
    stream.write(text + '\n')
    stream.flush()


def line_writer(stream=None):
    """A ``log`` callable for library code: each call writes one whole line (``write_line``)."""
    return lambda text: write_line(text, stream)


def is_terminal(stream):
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def format_duration(seconds):
    """``h:mm:ss`` (or ``m:ss`` under an hour) of a non-negative number of seconds."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return '%d:%02d:%02d' % (hours, minutes, seconds)
    return '%d:%02d' % (minutes, seconds)


class Progress:
    """Reports the progress of a loop over ``total`` items.

    Call ``update(done)`` (or the object itself, ``progress(done, total)``, which matches the
    library's progress callbacks) with the number of items done so far, and ``close()`` at the
    end (or use it as a context manager, which writes no summary when the loop raises).
    Nothing is written for an empty loop.

    Args:
        total: number of items the loop will process.
        label: what the loop does, e.g. 'Forward pass'.
        unit: what an item is, e.g. 'images'.
        stream: where to write (default: sys.stderr).
        interactive: draw a bar redrawn in place (True) or plain lines (False); default:
            whether ``stream`` is a terminal.
        line_interval: seconds between plain lines (not interactive).
        redraw_interval: seconds between redraws of the bar (interactive).
        clock: function returning seconds (time.monotonic; tests pass a fake one).
        width: terminal width in characters (default: the terminal's, else 80).
    """

    def __init__(self, total, label, unit='images', stream=None, interactive=None,
                 line_interval=DEFAULT_LINE_INTERVAL, redraw_interval=DEFAULT_REDRAW_INTERVAL,
                 clock=time.monotonic, width=None):
        self.total = int(total)
        self.label = label
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.interactive = is_terminal(self.stream) if interactive is None else interactive
        self.line_interval = line_interval
        self.redraw_interval = redraw_interval
        self.clock = clock
        self.width = width or shutil.get_terminal_size((80, 24)).columns
        self.done = 0
        self.start = clock()
        self._last_output = self.start
        self._drawn_length = 0
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc_info):
        if exc_type is None:
            self.close()
        else:
            self.abandon()

    def __call__(self, done, total=None):
        if total is not None:
            self.total = int(total)
        self.update(done)

    def update(self, done):
        """Record that ``done`` items are finished; redraw or print when it is time."""
        self.done = min(int(done), self.total)
        now = self.clock()
        if self.interactive:
            if now - self._last_output >= self.redraw_interval or self.done == self.total:
                self._draw(self.status_text(now, bar=True))
                self._last_output = now
        elif now - self._last_output >= self.line_interval and self.done < self.total:
            write_line(self.status_text(now), self.stream)
            self._last_output = now

    def close(self):
        """Finish the bar's line (interactive) or print the summary line; idempotent."""
        if self._closed or self.total <= 0:
            self._closed = True
            return
        self._closed = True
        now = self.clock()
        if self.interactive:
            self._draw(self.status_text(now, bar=True))
            self.stream.write('\n')
            self.stream.flush()
        else:
            write_line(self.summary_text(now), self.stream)

    def abandon(self):
        """End without a summary (the loop failed): a drawn bar's line is ended, so that an
        error message starts on a line of its own."""
        if not self._closed and self.interactive and self._drawn_length:
            self.stream.write('\n')
            self.stream.flush()
        self._closed = True

    def rate(self, now):
        """Items per second so far (0 before the first second's worth of time)."""
        elapsed = now - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def status_text(self, now, bar=False):
        """``label [####....] done/total unit (pp%), rate unit/s, m:ss left``."""
        rate = self.rate(now)
        fraction = self.done / self.total if self.total else 1.0
        if self.done >= self.total:
            left = 'done in %s' % format_duration(now - self.start)
        elif rate > 0:
            left = '%s left' % format_duration((self.total - self.done) / rate)
        else:
            left = '? left'
        counts = '%d/%d %s (%d%%), %.1f %s/s, %s' % (
            self.done, self.total, self.unit, int(100 * fraction), rate, self.unit, left)
        if not bar:
            return '%s: %s' % (self.label, counts)
        bar_width = min(BAR_WIDTH, self.width - len(self.label) - len(counts) - 6)
        if bar_width < MIN_BAR_WIDTH:
            return ('%s: %s' % (self.label, counts))[:self.width - 1]
        filled = int(round(bar_width * fraction))
        return '%s [%s%s] %s' % (self.label, '#' * filled, '.' * (bar_width - filled), counts)

    def summary_text(self, now):
        """``label: N unit in m:ss (rate unit/s)``."""
        return '%s: %d %s in %s (%.1f %s/s)' % (
            self.label, self.done, self.unit, format_duration(now - self.start), self.rate(now),
            self.unit)

    def _draw(self, text):
        text = text[:self.width - 1]  # a wrapped line could not be redrawn in place
        padding = ' ' * max(self._drawn_length - len(text), 0)
        self.stream.write('\r' + text + padding)
        self.stream.flush()
        self._drawn_length = len(text)
