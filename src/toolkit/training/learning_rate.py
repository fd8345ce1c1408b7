"""Learning-rate schedule files: ``epoch: rate`` lines, ``#`` comments.

A schedule maps the first epoch of each stage to its learning rate; a rate of ``-1`` (or ``-``,
or any rate <= 0) marks the end of training, as in the classic files::

    # casia
    0:  0.05
    60: 0.005
    91: -1
"""
from toolkit.errors import FacenetError


def parse_learning_rate_schedule(lines, source='schedule'):
    """Parse schedule lines into a list of ``(first_epoch, rate)`` sorted by epoch.

    Raises:
        FacenetError: a line is not ``<int>: <float>``, epochs are not increasing, or the
            schedule is empty.
    """
    schedule = []
    for number, raw_line in enumerate(lines, 1):
        line = raw_line.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split(':')
        try:
            if len(parts) != 2:
                raise ValueError
            epoch = int(parts[0])
            value = parts[1].strip()
            rate = -1.0 if value == '-' else float(value)
        except ValueError:
            raise FacenetError('%s line %d: expected "<epoch>: <learning rate>", got "%s"'
                               % (source, number, raw_line.strip())) from None
        if epoch < 0 or (schedule and epoch <= schedule[-1][0]):
            raise FacenetError('%s line %d: epochs must be non-negative and increasing, got %d'
                               % (source, number, epoch))
        schedule.append((epoch, rate))
    if not schedule:
        raise FacenetError('%s has no "<epoch>: <learning rate>" lines' % source)
    return schedule


def read_learning_rate_schedule(filename):
    """Read and parse a schedule file (see parse_learning_rate_schedule)."""
    try:
        with open(filename, encoding='utf-8') as handle:
            lines = handle.readlines()
    except OSError as error:
        raise FacenetError('cannot read learning rate schedule file %s: %s'
                           % (filename, error.strerror or error)) from None
    except UnicodeDecodeError as error:
        raise FacenetError('learning rate schedule file %s is not a text file (byte %d is not '
                           'UTF-8); expected "epoch: rate" lines' % (filename, error.start)) from None
    return parse_learning_rate_schedule(lines, filename)


def learning_rate_for_epoch(schedule, epoch):
    """The rate of the last stage starting at or before ``epoch``.

    Returns a rate <= 0 (training should stop) before the first stage; after the last
    stage its rate holds.
    """
    rate = -1.0
    for first_epoch, stage_rate in schedule:
        if first_epoch > epoch:
            break
        rate = stage_rate
    return rate


def get_learning_rate_from_file(filename, epoch):
    """Classic facenet API: the scheduled rate for ``epoch`` read from ``filename``."""
    return learning_rate_for_epoch(read_learning_rate_schedule(filename), epoch)
