"""Benchmark: MTCNN alignment end to end against the classic recipe, where its time goes, and
the machine's ceiling.

    python tmp/bench_align.py [--nrof_images 400] [--repeats 1] [--whole_lfw]
        [--skip_classic] [--skip_breakdown] [--nrof_processes 4] [--timeline]

Prints, all measured in this run (the machine may be shared: the load average is printed
before and after every timing, compare only figures of one run):

1. End to end, as a user runs it: ``align_dataset_mtcnn.py IN OUT --image_size 160 --margin 32``
   in one process, against the classic script's two-process ``--random_order`` recipe run
   unchanged through ``../shared/peers/classic_facenet/run_classic.py``, on the same images
   (every k-th file of the shared LFW, sorted, copied into a temporary folder; ``--whole_lfw``
   uses the whole shared LFW in place). Wall seconds from starting the processes to the last
   exit, the faces each run aligned, and the ratio. ``--nrof_processes N`` also times N of our
   processes with ``--random_order`` on one folder (and checks each image was done once).
2. Where the time of one aligner process goes (a fresh process, one worker thread so that the
   steps add up), in wall and CPU seconds: imports, TensorFlow import, building the networks,
   the first batch (executor and kernel set-up), reading and pyramid resizing (the reader
   threads' work), then per step: claims, P-Net level stacking / runs / boxes, R-Net crops /
   runs / boxes, O-Net crops / runs / boxes, cropping and PNG writing.
   The op time of each network by kind (convolutions, dense, PReLU, pooling, the rest), from
   TensorFlow's trace of the session runs.
3. The work: multiply-adds of P-, R- and O-Net per image at the classic settings (minsize 20,
   factor 0.709, thresholds 0.6/0.7/0.7) from the real pyramid and candidate counts.
4. The ceiling: GFLOP/s of a 2048 x 2048 float32 matrix product and of a convolution of P-Net's
   shape (3x3, 16 -> 32 channels on 32 x 72 x 72) in this process's TensorFlow, against the
   detector's achieved GFLOP/s (batched detection of preloaded images, all cores).
5. With ``--timeline``: one more run of our process, its CPU use sampled from /proc every
   20 ms (the cores it kept busy in each half second) and when its phases began: TensorFlow's
   import (its "Creating networks" line), the first and last PNG written.
"""
import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)
ROOT = os.path.dirname(SRC_DIR)
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
LFW_DIR = os.path.join(SHARED, 'data', 'lfw', 'images_deepfunneled')
CLASSIC_RUNNER = os.path.join(SHARED, 'peers', 'classic_facenet', 'run_classic.py')
SCRIPT = os.path.join(ROOT, 'src', 'align', 'align_dataset_mtcnn.py')
RECIPE = ['--image_size', '160', '--margin', '32']
MINSIZE, THRESHOLD, FACTOR = 20, [0.6, 0.7, 0.7], 0.709
STEPS = ['claims', 'read', 'pnet_resize', 'pnet_run', 'pnet_boxes', 'rnet_crop', 'rnet_run',
         'rnet_boxes', 'onet_crop', 'onet_run', 'onet_boxes', 'write']


def load():
    return '%.1f %.1f %.1f' % os.getloadavg()


def lfw_subset(nrof_images):
    """Every k-th image of the shared LFW (sorted), ``nrof_images`` of them."""
    paths = sorted(glob.glob(os.path.join(LFW_DIR, '*', '*.jpg')))
    step = max(1, len(paths) // nrof_images)
    return paths[::step][:nrof_images]


def copy_images(paths, input_dir):
    for path in paths:
        person = os.path.basename(os.path.dirname(path))
        os.makedirs(os.path.join(input_dir, person), exist_ok=True)
        shutil.copy(path, os.path.join(input_dir, person))


def count_pngs(output_dir):
    return len(glob.glob(os.path.join(output_dir, '*', '*.png')))


def classic_environment():
    """The environment as the user has it: without the variables our modules set."""
    env = dict(os.environ)
    for name in ('TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL'):
        if name in env and name not in ORIGINAL_ENVIRONMENT:
            del env[name]
    return env


ORIGINAL_ENVIRONMENT = dict(os.environ)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_processes(commands, cwd):
    """Start every command at once; wall seconds until the last exits, and the CPU seconds
    they used (the figure that a loaded machine changes least)."""
    # Each process writes to its own file: read from pipes one after the other, a process
    # whose pipe filled up would stop until the ones before it exit.
    logs = [(tempfile.TemporaryFile('w+'), tempfile.TemporaryFile('w+')) for _ in commands]
    start, cpu = time.time(), children_cpu()
    processes = [subprocess.Popen(command, cwd=cwd, stdout=out, stderr=error, text=True,
                                  env=classic_environment())
                 for command, (out, error) in zip(commands, logs)]
    for process in processes:
        process.wait()
    wall, cpu = time.time() - start, children_cpu() - cpu
    outputs = []
    for out, error in logs:
        out.seek(0)
        error.seek(0)
        outputs.append((out.read(), error.read()))
        out.close()
        error.close()
    for process, (out, error) in zip(processes, outputs):
        if process.returncode != 0:
            raise SystemExit('a benchmark process failed:\n' + error[-3000:])
        # Our aligners say when they shared the cores or waited (align.local_aligners).
        for line in out.splitlines():
            if 'aligner processes' in line:
                print('    (a process said: %s)' % line)
    return wall, cpu


def run_classic_pair(command, output_dir):
    """``(load before, (wall, CPU seconds))`` of two classic processes. The classic script
    checks for a class's output folder and then creates it, so its two processes can race
    there (FileExistsError, seen once on the whole LFW): then the pair runs again."""
    for attempt in (1, 2):
        before = load()
        try:
            return before, run_processes([command, command], os.path.dirname(CLASSIC_RUNNER))
        except SystemExit as failure:
            if attempt == 2 or 'FileExistsError' not in str(failure):
                raise
            print('  (the classic pair raced creating a class folder; run again)')
            shutil.rmtree(output_dir)


def end_to_end(input_dir, nrof_images, nrof_processes, work_dir):
    """Ours in one process, the classic recipe in two; returns (ours, classic) wall seconds."""
    ours_out = os.path.join(work_dir, 'ours')
    before = load()
    ours, cpu = run_processes([[sys.executable, SCRIPT, input_dir, ours_out] + RECIPE], ROOT)
    print('  ours, 1 process:          %6.1f s  %6.1f images/s  %6.1f CPU s  %d faces  '
          '(load %s -> %s)' % (ours, nrof_images / ours, cpu, count_pngs(ours_out), before,
                               load()))
    classic = None
    if CLASSIC_RUNNER:
        classic_out = os.path.join(work_dir, 'classic')
        command = [sys.executable, CLASSIC_RUNNER, 'src/align/align_dataset_mtcnn.py', input_dir,
                   classic_out] + RECIPE + ['--random_order']
        before, (classic, classic_cpu) = run_classic_pair(command, classic_out)
        print('  classic, 2 processes:     %6.1f s  %6.1f images/s  %6.1f CPU s  %d faces  '
              '(load %s -> %s)' % (classic, nrof_images / classic, classic_cpu,
                                   count_pngs(classic_out), before, load()))
        print('  ratio classic / ours:     %6.2fx wall, %.2fx CPU' % (classic / ours,
                                                                     classic_cpu / cpu))
    if nrof_processes > 1:
        many_out = os.path.join(work_dir, 'ours_%d' % nrof_processes)
        command = [sys.executable, SCRIPT, input_dir, many_out] + RECIPE + ['--random_order']
        before = load()
        many, many_cpu = run_processes([command] * nrof_processes, ROOT)
        lines = []
        for path in glob.glob(os.path.join(many_out, 'bounding_boxes_*.txt')):
            with open(path) as handle:
                lines.extend(line.split()[0] for line in handle if line.strip())
        once = len(lines) == len(set(lines)) == nrof_images
        print('  ours, %d processes:        %6.1f s  %6.1f images/s  %6.1f CPU s  %d faces, '
              'each image listed once: %s  (load %s -> %s)'
              % (nrof_processes, many, nrof_images / many, many_cpu, count_pngs(many_out), once,
                 before, load()))
    for name in os.listdir(work_dir):
        shutil.rmtree(os.path.join(work_dir, name))
    return ours, classic


def process_cpu_ticks(pid, seen):
    """CPU clock ticks used so far by a process and its child processes (the image reader),
    each counted at its last sighting in ``seen`` (pid -> ticks) once it is gone."""
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
            pids = [pid] + [int(child) for child in handle.read().split()]
    except OSError:
        pids = [pid]
    for process in pids:
        try:
            with open('/proc/%d/stat' % process) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
            seen[process] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return sum(seen.values())


def timeline(input_dir, work_dir, interval=0.5):
    """One run of our aligner: the cores it kept busy in each ``interval`` and when its
    phases began (from its output lines, time-stamped as they arrive)."""
    tick = os.sysconf('SC_CLK_TCK')
    output_dir = os.path.join(work_dir, 'timeline')
    start = time.time()
    process = subprocess.Popen([sys.executable, SCRIPT, input_dir, output_dir] + RECIPE,
                               cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env=classic_environment())
    stamps = []
    reader = threading.Thread(target=lambda: stamps.extend(
        (time.time() - start, line) for line in process.stdout))
    reader.start()
    samples, seen = [], {}
    while process.poll() is None:
        samples.append((time.time() - start, process_cpu_ticks(process.pid, seen)))
        time.sleep(0.02)
    wall = time.time() - start
    reader.join()
    written = [t for t, line in stamps if line.startswith(input_dir)]
    networks = [t for t, line in stamps if line.startswith('Creating networks')]
    print('\nTimeline of one run of ours (load %s): TensorFlow import from %.2f s, first PNG '
          'at %.2f s, last at %.2f s, exit at %.2f s; cores busy per %.1f s:'
          % (load(), networks[0] if networks else float('nan'), written[0], written[-1],
             wall, interval))
    last_end, last_ticks = 0.0, 0
    for slot in range(1, int(wall / interval) + 2):
        end = min(slot * interval, wall)
        ticks = max([used for t, used in samples if t < end] or [0])
        print('  %5.1f-%5.1f s  %4.2f cores  %4d PNGs' % (
            last_end, end, (ticks - last_ticks) / tick / max(end - last_end, 1e-9),
            sum(1 for t in written if t < end)))
        last_end, last_ticks = end, ticks
    shutil.rmtree(output_dir)


# -- breakdown, work and ceiling (in a fresh process) -----------------------------------------

def breakdown_worker(input_dir):
    """Time one aligner process step by step (wall and CPU seconds); print one JSON line."""
    marks = [(time.time(), time.process_time())]
    result, cpu = {}, {}

    def mark(name):
        now = (time.time(), time.process_time())
        result[name], cpu[name] = now[0] - marks[-1][0], now[1] - marks[-1][1]
        marks.append(now)

    import cv2
    from align import dataset_aligner, detect_face
    from align import detector as detector_module
    from align.detector import FaceDetector
    from toolkit.data import folders
    from toolkit import session, tf_compat
    cv2.setNumThreads(1)
    mark('import_rest')
    tf_compat.use_graph_core()  # as align_dataset_mtcnn.py
    tf_compat.import_now()  # the import itself (tf is deferred until first use)
    mark('import_tensorflow')
    work = dataset_aligner.list_images(folders.get_dataset(input_dir), False)
    with tempfile.TemporaryDirectory() as output_dir:
        cores = session.usable_cores()
        detector = FaceDetector(op_threads=cores)  # as align_dataset_mtcnn.py builds it
        mark('build_networks')
        images = [folders.read_rgb_image(path) for _, path, _ in work]
        nets = (detector.pnet, detector.rnet, detector.onet)
        marks.append((time.time(), time.process_time()))
        detect_face.detect_faces(images[:32], MINSIZE, *nets, THRESHOLD, FACTOR)
        mark('first_batch')
        # The reader threads' work (decoding, pyramid resizing), all done before the
        # aligner starts, so that it does not overlap the steps timed below.
        reader = dataset_aligner.ImageReader(work, detector_module.pyramid_levels,
                                             nrof_threads=1, ahead=len(work),
                                             ahead_bytes=2 ** 40)
        while len(reader._queue) < len(work) or not all(read.done()
                                                        for _, read in reader._queue):
            time.sleep(0.01)
        mark('read_and_pyramid')
        profile = detect_face.StageProfile()
        aligner = dataset_aligner.DatasetAligner(detector, output_dir, 160, 32,
                                                 log=lambda line: None, nrof_workers=1,
                                                 profile=profile)
        with reader, dataset_aligner.open_bounding_boxes_file(output_dir) as boxes_file:
            counts = aligner.run(work, boxes_file, reader)
        mark('aligner')
        result.update(seconds=dict(profile.seconds), cpu_seconds=dict(profile.cpu_seconds),
                      counts=dict(profile.counts), faces=counts['faces'], images=len(work),
                      cpu=cpu)
        result.update(detector_throughput(detector, images, max(2, cores)))
        result['op_profile'] = op_profile(detector, images[:96])
        detector.close()
    result.update(ceiling())
    print(json.dumps(result))


def detector_throughput(detector, images, nrof_workers=2, batch_size=32):
    """Batched detection of preloaded images on every core, as the aligner's workers run it."""
    from concurrent.futures import ThreadPoolExecutor
    from align import detect_face
    nets = (detector.pnet, detector.rnet, detector.onet)
    profile = detect_face.StageProfile()

    def detect(chunk):
        detect_face.detect_faces(chunk, MINSIZE, *nets, THRESHOLD, FACTOR, profile=profile)

    chunks = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    wall, cpu = time.time(), time.process_time()
    with ThreadPoolExecutor(nrof_workers) as pool:
        list(pool.map(detect, chunks))
    nets = ('pnet', 'rnet', 'onet')
    return {'detector_wall': time.time() - wall, 'detector_cpu': time.process_time() - cpu,
            'detector_multiply_adds': sum(profile.counts[net + '_multiply_adds'] for net in nets),
            'network_seconds': sum(profile.seconds[net + '_run'] for net in nets)}


OP_GROUPS = (('convolution', ('Conv2D',)), ('dense', ('MatMul',)),
             ('PReLU', ('Mul', 'DepthwiseConv2dNative', 'Maximum', 'Select', 'SelectV2',
                        'GreaterEqual')),
             ('pooling', ('MaxPool',)))


def op_profile(detector, images, batch_size=32):
    """Each network's op time per image (TensorFlow's own trace of every session run, one
    worker), grouped: convolutions, dense layers, the PReLU ops, max pooling, the rest
    (pixel conversion, softmax)."""
    from align import detect_face
    from toolkit.tf_compat import tf
    nets = (detector.pnet, detector.rnet, detector.onet)
    totals = {}
    run = detector.session.run

    def traced_run(fetches, feed_dict=None):
        metadata = tf.RunMetadata()
        outputs = run(fetches, feed_dict, options=tf.RunOptions(
            trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                network = node.node_name.split('/')[0].split('_')[0]
                op = node.timeline_label.split('(')[0].split('=')[-1].strip()
                group = next((name for name, ops in OP_GROUPS
                              if any(op.endswith(o) for o in ops)), 'other')
                if network in ('pnet', 'rnet', 'onet'):
                    key = network + ' ' + group
                    totals[key] = totals.get(key, 0.0) + node.op_end_rel_micros / 1e3
        return outputs

    detector.session.run = traced_run
    try:
        for start in range(0, len(images), batch_size):
            detect_face.detect_faces(images[start:start + batch_size], MINSIZE, *nets,
                                     THRESHOLD, FACTOR)
    finally:
        detector.session.run = run
    return {key: value / len(images) for key, value in totals.items()}


def ceiling(repeats=5):
    """Best GFLOP/s of a large matrix product and of a P-Net-shaped convolution, per
    wall-clock second (all cores) and per CPU second (what a loaded machine changes least)."""
    import numpy as np
    from toolkit.session import new_session
    from toolkit.tf_compat import tf
    graph = tf.Graph()
    with graph.as_default():
        a = tf.Variable(tf.random.uniform([2048, 2048]))
        b = tf.Variable(tf.random.uniform([2048, 2048]))
        product = tf.reduce_sum(tf.matmul(a, b))
        x = tf.placeholder(tf.float32, [32, 72, 72, 16])
        kernel = tf.Variable(tf.random.uniform([3, 3, 16, 32]))
        convolution = tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, 'VALID'))
        init = tf.global_variables_initializer()
    feed = {x: np.random.rand(32, 72, 72, 16).astype(np.float32)}
    cases = {'matmul': (product, {}, 2 * 2048 ** 3),
             'conv': (convolution, feed, 2 * 32 * 70 * 70 * 9 * 16 * 32)}
    result = {}
    with new_session(graph) as sess:
        sess.run(init)
        for name, (fetch, feed_dict, flops) in cases.items():
            sess.run(fetch, feed_dict)
            best, best_cpu = float('inf'), float('inf')
            for _ in range(repeats):
                start, cpu = time.time(), time.process_time()
                sess.run(fetch, feed_dict)
                best = min(best, time.time() - start)
                best_cpu = min(best_cpu, time.process_time() - cpu)
            result[name + '_gflops'] = flops / best / 1e9
            result[name + '_gflops_per_cpu_second'] = flops / best_cpu / 1e9
    return result


def run_breakdown(input_dir):
    before = load()
    result = subprocess.run([sys.executable, __file__, '--breakdown_worker', input_dir],
                            capture_output=True, text=True, env=classic_environment())
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    report(json.loads(result.stdout.strip().splitlines()[-1]), before)


def report(r, load_before):
    n = r['images']
    print('\nWhere the time of one aligner process goes (%d images; one worker thread, each op '
          'on one thread, images read ahead before the aligner starts, so that the steps add '
          'up; load %s -> %s):' % (n, load_before, load()))
    print('  %-22s %8s %8s' % ('', 'wall s', 'CPU s'))
    for name in ('import_rest', 'import_tensorflow', 'build_networks', 'first_batch',
                 'read_and_pyramid'):
        print('  %-22s %8.2f %8.2f' % (name.replace('_', ' '), r[name], r['cpu'][name]))
    total, total_cpu = r['aligner'], r['cpu']['aligner']
    print('  aligner run            %8.2f %8.2f  (%.1f images/s, %.1f CPU ms per image, %d '
          'faces)' % (total, total_cpu, n / total, 1000 * total_cpu / n, r['faces']))
    seconds, cpu_seconds = r['seconds'], r['cpu_seconds']
    for step in STEPS + ['other']:
        if step == 'other':
            value = total - sum(seconds.get(s, 0.0) for s in STEPS)
            cpu = total_cpu - sum(cpu_seconds.get(s, 0.0) for s in STEPS)
        else:
            value, cpu = seconds.get(step, 0.0), cpu_seconds.get(step, 0.0)
        print('    %-20s %8.2f %8.2f  %5.2f CPU ms/image  %4.1f%% of the CPU'
              % (step, value, cpu, 1000 * cpu / n, 100 * cpu / total_cpu))
    startup = sum(r['cpu'][name] for name in ('import_rest', 'import_tensorflow',
                                              'build_networks', 'first_batch'))
    print('  per process, once: %.2f CPU s; per image: %.1f CPU ms (reading and pyramid '
          '%.1f, aligner %.1f)' % (startup, 1000 * (r['cpu']['read_and_pyramid'] + total_cpu) / n,
                                   1000 * r['cpu']['read_and_pyramid'] / n,
                                   1000 * total_cpu / n))
    counts = r['counts']
    print('\nWork per image at the classic settings (%d images):' % n)
    print('  R-Net crops %.1f, O-Net crops %.1f, session runs %.2f'
          % (counts['rnet_crops'] / n, counts['onet_crops'] / n, counts['session_runs'] / n))
    total_macs = 0
    for net in ('pnet', 'rnet', 'onet'):
        macs = counts[net + '_multiply_adds'] / n
        total_macs += macs
        print('  %s %6.1f M multiply-adds' % (net, macs / 1e6))
    print('  all  %6.1f M multiply-adds = %.3f GFLOP per image' % (total_macs / 1e6,
                                                                    2 * total_macs / 1e9))
    achieved = 2 * r['detector_multiply_adds'] / r['detector_wall'] / 1e9
    print('\nCeiling and detector (this process\'s TensorFlow, all cores):')
    per_cpu = 2 * r['detector_multiply_adds'] / r['detector_cpu'] / 1e9
    print('  %-30s %7s %18s' % ('', 'GFLOP/s', 'GFLOP per CPU s'))
    for label, name in (('matmul 2048^3 float32', 'matmul'),
                        ('conv 3x3 16->32, 32x72x72', 'conv')):
        print('  %-30s %7.1f %18.1f' % (label, r[name + '_gflops'],
                                        r[name + '_gflops_per_cpu_second']))
    print('  %-30s %7.1f %18.1f  (%.1f images/s, %.1f CPU ms per image)'
          % ('detector, batched, 2 workers', achieved, per_cpu, n / r['detector_wall'],
             1000 * r['detector_cpu'] / n))
    print('  fraction of the conv ceiling:   %4.0f%% wall, %.0f%% per CPU second  (of the matmul '
          'ceiling: %.0f%%, %.0f%%)' % (100 * achieved / r['conv_gflops'],
                                       100 * per_cpu / r['conv_gflops_per_cpu_second'],
                                       100 * achieved / r['matmul_gflops'],
                                       100 * per_cpu / r['matmul_gflops_per_cpu_second']))
    in_networks = 2 * r['detector_multiply_adds'] / r['network_seconds'] / 1e9
    print('  inside the network runs only:   %.1f GFLOP/s per thread-second' % in_networks)
    ops = r['op_profile']
    print('\nOp time per image in the networks (TensorFlow\'s trace, %s):'
          % ', '.join(name for name, _ in OP_GROUPS + (('other', ()),)))
    for net in ('pnet', 'rnet', 'onet'):
        groups = [ops.get('%s %s' % (net, name), 0.0) for name, _ in OP_GROUPS + (('other', ()),)]
        print('  %s %5.2f ms: %s' % (net, sum(groups), ', '.join(
            '%.2f (%.0f%%)' % (value, 100 * value / max(sum(groups), 1e-9)) for value in groups)))


def main():
    global CLASSIC_RUNNER
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nrof_images', type=int, default=400)
    parser.add_argument('--repeats', type=int, default=1, help='End-to-end runs of each.')
    parser.add_argument('--whole_lfw', action='store_true',
                        help='End to end on the whole shared LFW (13,233 images).')
    parser.add_argument('--nrof_processes', type=int, default=0,
                        help='Also time this many of our processes with --random_order.')
    parser.add_argument('--skip_classic', action='store_true')
    parser.add_argument('--skip_breakdown', action='store_true')
    parser.add_argument('--skip_end_to_end', action='store_true')
    parser.add_argument('--timeline', action='store_true',
                        help='Also sample the CPU use of one more run of ours.')
    parser.add_argument('--breakdown_worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.breakdown_worker:
        return breakdown_worker(args.breakdown_worker)
    if args.skip_classic:
        CLASSIC_RUNNER = None
    with tempfile.TemporaryDirectory() as work_dir:
        if args.whole_lfw:
            input_dir = LFW_DIR
            nrof_images = len(glob.glob(os.path.join(LFW_DIR, '*', '*.jpg')))
        else:
            input_dir = os.path.join(work_dir, 'input')
            paths = lfw_subset(args.nrof_images)
            copy_images(paths, input_dir)
            nrof_images = len(paths)
        print('%d LFW images, %d cores, load %s' % (nrof_images, os.cpu_count(), load()))
        outputs = os.path.join(work_dir, 'outputs')
        os.makedirs(outputs)
        if not args.skip_end_to_end:
            print('End to end (process start to exit; flags %s):' % ' '.join(RECIPE))
            for _ in range(args.repeats):
                end_to_end(input_dir, nrof_images, args.nrof_processes, outputs)
        if args.timeline:
            timeline(input_dir, outputs)
        if not args.skip_breakdown:
            run_breakdown(input_dir)
    print('load average at the end: %s' % load())


if __name__ == '__main__':
    main()
