"""`kill -9` at random moments: the aligner and a training run, then resumed; checks that
nothing is lost, doubled, damaged or left behind, and prints how many kills landed where.

    python tmp/stress_kill.py --lfw_dir ../shared/data/lfw/images_deepfunneled \\
        [--align_trials 10 --align_images 24 --align_processes 2 --train_trials 10 --seed 0]

Aligner: each trial starts ``--align_processes`` processes on one output folder and, once each
holds a claim (is aligning an image), kills each with SIGKILL after its own random delay; a
last run finishes the folder. Then every image must have exactly one valid PNG and
exactly one bounding-box line, every claim must be done and no temporary file may be left.

Training: each trial starts train_softmax (models.dummy, 25 MB checkpoints saved every epoch)
and kills it with SIGKILL a random time after its first checkpoint; a last short run with the
same base folders follows. Then every checkpoint left must restore (every tensor read back)
and no temporary file may be left in any run folder.
"""
import argparse
import collections
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import positive_int  # noqa: E402

ALIGN_SCRIPT = os.path.join(SRC_DIR, 'align', 'align_dataset_mtcnn.py')
TRAIN_SCRIPT = os.path.join(SRC_DIR, 'train_softmax.py')
START_TIMEOUT = 300  # seconds for a process to reach the moment a trial waits for
POLL_SECONDS = 0.02

# Where each kill landed: before the process began its work, while it worked, or after it
# had finished by itself.
KillReport = collections.namedtuple('KillReport', ['kills', 'while_working', 'finished_first',
                                                   'problems'])


def _start(command, log_path):
    with open(log_path, 'ab') as log:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, cwd=_PARENT)


def _wait_for(condition, process):
    """Poll until ``condition()`` holds; False when the process ended first."""
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(POLL_SECONDS)
    raise RuntimeError('timed out waiting for %s' % ' '.join(process.args))


def _tail(log_path, nrof_chars=500):
    with open(log_path, 'rb') as handle:
        return handle.read()[-nrof_chars:].decode('utf-8', 'replace')


def _kill_after(process, delay):
    """SIGKILL ``process`` after ``delay`` seconds; True when it was still running."""
    deadline = time.time() + delay
    while time.time() < deadline and process.poll() is None:
        time.sleep(POLL_SECONDS)
    alive = process.poll() is None
    if alive:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return alive


# -- aligner ---------------------------------------------------------------------------------

def align_kill_trials(input_dir, output_dir, nrof_trials, rng, max_delay=2.0,
                      nrof_processes=1, image_size=182):
    """Kill-and-resume trials on one aligner output folder; returns a KillReport."""
    command = [sys.executable, ALIGN_SCRIPT, input_dir, output_dir, '--random_order',
               '--image_size', str(image_size)]
    log_path = output_dir.rstrip('/') + '.log'
    claims_dir = os.path.join(output_dir, '.align_claims')
    kills = while_working = finished = 0
    problems = []
    for _ in range(nrof_trials):
        delays = [rng.uniform(0.0, max_delay) for _ in range(nrof_processes)]
        processes = [_start(command, log_path) for _ in range(nrof_processes)]
        for killed in _kill_each_while_it_aligns(processes, delays, claims_dir):
            kills += killed
            while_working += killed
        for process in processes:
            if process.returncode >= 0:
                finished += 1
                if process.returncode != 0:
                    problems.append('an aligner exited with %d before its kill: %s'
                                    % (process.returncode, _tail(log_path)))
    final = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           cwd=_PARENT, text=True)
    if final.returncode != 0:
        problems.append('the final run exited with %d: %s' % (final.returncode,
                                                              final.stderr[-500:]))
    problems += check_aligned_outputs(input_dir, output_dir, image_size)
    return KillReport(kills, while_working, finished, problems)


def _kill_each_while_it_aligns(processes, delays, claims_dir):
    """SIGKILL each process ``delays[i]`` seconds after it first holds a claim; yields
    whether each was killed (False: it ended by itself first)."""
    kill_at = [None] * len(processes)
    killed = [False] * len(processes)
    deadline = time.time() + START_TIMEOUT
    while any(process.poll() is None for process in processes):
        if time.time() > deadline:
            raise RuntimeError('timed out waiting for the aligners to start')
        for i, process in enumerate(processes):
            if process.poll() is not None:
                continue
            if kill_at[i] is None and holds_a_claim(claims_dir, process.pid):
                kill_at[i] = time.time() + delays[i]
            if kill_at[i] is not None and time.time() >= kill_at[i]:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                killed[i] = True
        time.sleep(POLL_SECONDS)
    return killed


def holds_a_claim(claims_dir, pid):
    """Whether process ``pid`` is aligning an image now (a claim file names it)."""
    owner = ' pid %d\n' % pid
    for path in glob.glob(os.path.join(claims_dir, '*', '*.claim')):
        try:
            with open(path) as handle:
                if owner in handle.read():
                    return True
        except OSError:
            pass
    return False


def check_aligned_outputs(input_dir, output_dir, image_size):
    """What is wrong with an aligner output folder: images without exactly one valid PNG or
    exactly one bounding-box line, claims not done, temporary files left."""
    from align import claims
    problems = []
    images = sorted((person, os.path.splitext(name)[0]) for person in os.listdir(input_dir)
                    for name in os.listdir(os.path.join(input_dir, person)))
    expected = sorted(os.path.join(output_dir, person, name + '.png') for person, name in images)
    found = sorted(glob.glob(os.path.join(output_dir, '*', '*.png')))
    if found != expected:
        problems.append('PNG files differ: missing %s, unexpected %s'
                        % (sorted(set(expected) - set(found)), sorted(set(found) - set(expected))))
    for path in found:
        try:
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                image.load()
                if image.size != (image_size, image_size):
                    problems.append('%s is %dx%d' % ((path,) + image.size))
        except Exception as error:  # any decoding failure is what this check looks for
            problems.append('%s is not a valid PNG: %s' % (path, error))
    lines = []
    for path in glob.glob(os.path.join(output_dir, 'bounding_boxes_*.txt')):
        with open(path) as handle:
            lines += [line.split()[0] for line in handle if line.strip()]
    counts = collections.Counter(lines)
    wrong = {path: counts[path] for path in set(expected) | set(counts) if counts[path] != 1}
    if wrong:
        problems.append('bounding-box lines not exactly once: %s' % sorted(wrong.items()))
    store = claims.ImageClaims(output_dir)
    undone = [name for person, name in images if not store.is_done(person, name)]
    if undone:
        problems.append('claims not done: %s' % undone)
    temporary = glob.glob(os.path.join(output_dir, '*', '.*'))
    if temporary:
        problems.append('temporary files left: %s' % temporary)
    return problems


def copy_images(lfw_dir, destination, nrof_images):
    """The first ``nrof_images`` images of LFW people with at least two, two per person."""
    copied = 0
    for person in sorted(os.listdir(lfw_dir)):
        if not os.path.isdir(os.path.join(lfw_dir, person)):
            continue
        names = sorted(os.listdir(os.path.join(lfw_dir, person)))[:2]
        if len(names) < 2:
            continue
        os.makedirs(os.path.join(destination, person))
        for name in names[:nrof_images - copied]:
            shutil.copy(os.path.join(lfw_dir, person, name), os.path.join(destination, person))
            copied += 1
        if copied == nrof_images:
            return destination
    return destination


# -- training --------------------------------------------------------------------------------

def make_training_folder(root, nrof_classes=3, nrof_images=4, size=64, seed=0):
    """``root/class<i>/<i>_<j>.png``: random images, one mean colour per class."""
    rng = np.random.RandomState(seed)
    for c in range(nrof_classes):
        os.makedirs(os.path.join(root, 'class%d' % c))
        base = rng.randint(40, 215, 3)
        for i in range(nrof_images):
            pixels = np.clip(base + rng.randint(-40, 40, (size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(
                os.path.join(root, 'class%d' % c, '%d_%d.png' % (c, i)))
    return root


def training_command(data_dir, base_dir, max_nrof_epochs):
    # 64x64x3 inputs to a 512-d bottleneck: 25 MB of weights, so each save takes a while.
    return [sys.executable, TRAIN_SCRIPT, '--data_dir', data_dir, '--model_def', 'models.dummy',
            '--image_size', '64', '--embedding_size', '512', '--batch_size', '6',
            '--epoch_size', '1', '--max_nrof_epochs', str(max_nrof_epochs),
            '--logs_base_dir', os.path.join(base_dir, 'logs'),
            '--models_base_dir', os.path.join(base_dir, 'models')]


def train_kill_trials(data_dir, base_dir, nrof_trials, rng, max_delay=2.0, in_a_save=False):
    """Kill trials of training runs saving every epoch, then one short run; a KillReport
    whose ``while_working`` counts kills that left a save's temporary files behind.

    Each kill comes a random time (up to ``max_delay``) after the run's first checkpoint,
    or with ``in_a_save`` after the next save has begun (its temporary file exists).
    """
    models_dir = os.path.join(base_dir, 'models')
    os.makedirs(base_dir, exist_ok=True)
    log_path = os.path.join(base_dir, 'train.log')
    kills = in_save = finished = 0
    for _ in range(nrof_trials):
        before = set(os.listdir(models_dir)) if os.path.isdir(models_dir) else set()
        process = _start(training_command(data_dir, base_dir, 200), log_path)

        def first_checkpoint():
            runs = set(os.listdir(models_dir)) - before if os.path.isdir(models_dir) else ()
            return any(glob.glob(os.path.join(models_dir, run, '*.index')) for run in runs)
        _wait_for(first_checkpoint, process)
        if in_a_save:
            _wait_for(lambda: bool(glob.glob(os.path.join(models_dir, '*', '.tmp-model-*'))),
                      process)
        killed = _kill_after(process, rng.uniform(0.0, max_delay))
        kills += killed
        finished += not killed
        in_save += killed and bool(temporary_files(models_dir))
    final = subprocess.run(training_command(data_dir, base_dir, 1), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=_PARENT, text=True)
    problems = [] if final.returncode == 0 else [
        'the final run exited with %d: %s' % (final.returncode, final.stderr[-500:])]
    problems += check_checkpoints(models_dir)
    left = temporary_files(models_dir) + temporary_files(os.path.join(base_dir, 'logs'))
    if left:
        problems.append('temporary files left: %s' % left)
    return KillReport(kills, in_save, finished, problems)


def temporary_files(base_dir):
    """Hidden temporary files and TensorFlow's ``checkpoint.tmp*`` in the run folders."""
    return sorted(glob.glob(os.path.join(base_dir, '*', '.*'))
                  + glob.glob(os.path.join(base_dir, '*', 'checkpoint.tmp*')))


def check_checkpoints(models_dir):
    """Checkpoints that do not restore: every tensor of every ``*.index`` set is read back,
    and the names in each ``checkpoint`` state file must exist; data files without an index
    are reported too."""
    from toolkit.modelfiles import loading
    from toolkit.tf_compat import tf
    problems = []
    for run in sorted(os.listdir(models_dir)):
        folder = os.path.join(models_dir, run)
        for index in sorted(glob.glob(os.path.join(folder, '*.ckpt-*.index'))):
            prefix = index[:-len('.index')]
            try:
                shapes = loading.checkpoint_variables(prefix)
                reader = tf.train.load_checkpoint(prefix)
                for name in shapes:
                    reader.get_tensor(name)
            except Exception as error:  # any failure to read back is what this looks for
                problems.append('%s does not restore: %s' % (prefix, str(error)[:200]))
        state = tf.train.get_checkpoint_state(folder)
        for path in (state.all_model_checkpoint_paths if state else []):
            if not os.path.isfile(os.path.join(folder, os.path.basename(path)) + '.index'):
                problems.append('%s names a missing checkpoint %s' % (folder, path))
        for data in glob.glob(os.path.join(folder, '*.ckpt-*.data-*')):
            if not os.path.isfile(data.split('.data-')[0] + '.index'):
                problems.append('data file without an index: %s' % data)
    return problems


def main(args):
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix='stress-kill-')
    print('load %.1f %.1f %.1f, work folder %s' % (os.getloadavg() + (work,)))
    try:
        if args.align_trials:
            start = time.time()
            input_dir = copy_images(args.lfw_dir, os.path.join(work, 'raw'), args.align_images)
            report = align_kill_trials(input_dir, os.path.join(work, 'aligned'),
                                       args.align_trials, rng, args.max_delay,
                                       args.align_processes)
            print('aligner: %d trials x %d processes on %d images, %d kills (%d while aligning,'
                  ' %d processes had finished first), %d problems in %.0f s, load %.1f'
                  % (args.align_trials, args.align_processes, args.align_images, report.kills,
                     report.while_working, report.finished_first, len(report.problems),
                     time.time() - start, os.getloadavg()[0]))
            for problem in report.problems:
                print('  ' + problem)
        if args.train_trials:
            start = time.time()
            data_dir = make_training_folder(os.path.join(work, 'data'))
            report = train_kill_trials(data_dir, os.path.join(work, 'train'), args.train_trials,
                                       rng, args.max_delay)
            nrof_checkpoints = len(glob.glob(os.path.join(work, 'train', 'models', '*',
                                                          '*.index')))
            print('training: %d trials, %d kills (%d during a save), %d checkpoints left, all '
                  'read back: %s; %d problems in %.0f s, load %.1f'
                  % (args.train_trials, report.kills, report.while_working, nrof_checkpoints,
                     'yes' if not report.problems else 'no', len(report.problems),
                     time.time() - start, os.getloadavg()[0]))
            for problem in report.problems:
                print('  ' + problem)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lfw_dir', default='', help='LFW images (needed for --align_trials).')
    parser.add_argument('--align_trials', type=int, default=10)
    parser.add_argument('--align_images', type=positive_int, default=24)
    parser.add_argument('--align_processes', type=positive_int, default=2)
    parser.add_argument('--train_trials', type=int, default=10)
    parser.add_argument('--max_delay', type=float, default=2.0,
                        help='Kills come uniformly within this many seconds of the start.')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.align_trials and not args.lfw_dir:
        parser.error('--align_trials needs --lfw_dir')
    return args


if __name__ == '__main__':
    cli.run(main, parse_arguments)
