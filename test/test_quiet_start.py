"""Scripts answer ``--help`` and wrong flags before TensorFlow is imported, and TensorFlow's
start-up lines stay off stderr unless ``TF_CPP_MIN_LOG_LEVEL=0`` asks for them."""
import glob
import json
import os
import re
import resource
import subprocess
import sys

from conftest import ROOT
from toolkit import tf_compat

SRC = os.path.join(ROOT, 'src')
SCRIPTS = sorted(
    path for pattern in ('src/*.py', 'src/align/*.py', 'src/generative/*.py', 'contributed/*.py',
                         'util/*.py')
    for path in glob.glob(os.path.join(ROOT, pattern))
    if "if __name__ == '__main__':" in open(path, encoding='utf-8').read())

# Imports each script as a module, parses --help and then a wrong flag, and reports the
# exit codes and whether TensorFlow (or scikit-learn, SciPy) got imported on the way.
PARSE_ONLY = r'''
import contextlib, importlib.util, io, json, os, sys
for path in sys.argv[1:]:
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location('script_under_test', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules['script_under_test'] = module
    spec.loader.exec_module(module)
    codes = []
    for argv in (['--help'], ['--no_such_flag']):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                module.parse_arguments(argv)
                codes.append(None)
            except SystemExit as exit:
                codes.append(exit.code)
    loaded = [m for m in ('tensorflow', 'sklearn', 'scipy') if m in sys.modules]
    print(json.dumps({'path': path, 'codes': codes, 'loaded': loaded}))
'''


def run_python(args, env=None, cwd=None):
    """The finished process and the CPU seconds it used (user + system: unlike the wall
    clock, they do not grow when other processes load the machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=300,
                            env=env, cwd=cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_every_script_parses_its_arguments_without_tensorflow():
    """All scripts in one process, in turn: the first that imports TensorFlow is named."""
    assert len(SCRIPTS) >= 20
    result, _ = run_python(['-c', PARSE_ONLY] + SCRIPTS)
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [report['path'] for report in reports] == SCRIPTS
    for report in reports:
        assert report['codes'] == [0, 2], report
        assert report['loaded'] == [], report


def test_help_and_a_wrong_flag_answer_at_once_without_tensorflow_lines(tmp_path):
    """From another folder, as a user runs them. Importing TensorFlow alone costs several CPU
    seconds; the answer costs well under one (Python, numpy, Pillow, h5py)."""
    script = os.path.join(SRC, 'train_softmax.py')
    result, seconds = run_python([script, '--help'], cwd=str(tmp_path))
    assert result.returncode == 0 and result.stdout.startswith('usage: train_softmax.py')
    assert '--lfw_dir' in result.stdout
    assert result.stderr == ''
    assert seconds < 1.5, seconds
    result, seconds = run_python([os.path.join(SRC, 'align', 'align_dataset_mtcnn.py'),
                                  'in', 'out', '--no_such_flag'], cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith('unrecognized arguments: --no_such_flag')
    assert result.stderr.startswith('usage: align_dataset_mtcnn.py')
    assert seconds < 1.5, seconds


# A process that really imports TensorFlow and runs a graph through the toolkit's session,
# then writes one line of its own to stderr.
RUN_GRAPH = r'''
import sys
sys.path.insert(0, sys.argv[1])
from toolkit.session import new_session
from toolkit.tf_compat import tf
graph = tf.Graph()
with graph.as_default():
    product = tf.constant(2.0) * 3.0
with new_session(graph) as sess:
    print(sess.run(product))
print('our own line', file=sys.stderr)
'''


def test_tensorflow_startup_lines_are_hidden_and_come_back_on_request():
    env = dict(os.environ)
    env.pop('TF_CPP_MIN_LOG_LEVEL', None)
    quiet, _ = run_python(['-c', RUN_GRAPH, SRC], env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == '6.0'
    assert quiet.stderr == 'our own line\n'
    env['TF_CPP_MIN_LOG_LEVEL'] = '0'
    verbose, _ = run_python(['-c', RUN_GRAPH, SRC], env=env)
    assert verbose.returncode == 0
    noise = [line for line in verbose.stderr.splitlines(True)
             if tf_compat.STARTUP_NOISE.match(line)]
    assert len(noise) >= 3, verbose.stderr
    assert verbose.stderr.endswith('our own line\n')


def test_the_filter_keeps_other_lines(capfd):
    noise = ('WARNING: All log messages before absl::InitializeLog() is called are written to '
             'STDERR\n'
             'E0000 00:00:1796133220.077465   30276 cuda_platform.cc:52] failed call to cuInit: '
             'INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n')
    with tf_compat.stderr_without(tf_compat.STARTUP_NOISE):
        os.write(2, noise.encode())
        os.write(2, b'a real problem\n')
    assert capfd.readouterr().err == 'a real problem\n'


def test_deferred_module_imports_tensorflow_on_first_use():
    tensorflow = tf_compat.tensorflow_module()
    seen = []
    tf_compat.when_imported(seen.append)  # already imported: called at once
    assert seen == [tensorflow]
    deferred = tf_compat.DeferredModule('tensorflow.compat.v1', lambda module: module.compat.v1)
    assert deferred.float32 is tensorflow.compat.v1.float32
    assert deferred.nn.relu is tensorflow.compat.v1.nn.relu
    assert re.match(r'<TensorFlow module tensorflow\.compat\.v1 \(imported\)>', repr(deferred))
