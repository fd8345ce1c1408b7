"""Run several scripts in this one process, one after another (TensorFlow starts once).

Usage: ``python script_batch.py '<json list of [module, [args...]]>'``. Each script runs
through ``toolkit.cli.run`` as from the command line; prints one JSON list of
``{"status", "stdout", "stderr"}`` (its exit status and what it printed) in the same order.
Used by tests that must run scripts as another user.
"""
import contextlib
import importlib
import io
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for folder in (os.path.join(ROOT, 'contributed'), os.path.join(ROOT, 'src')):
    sys.path.insert(0, folder)

from toolkit import cli  # noqa: E402


def run_script(module_name, argv):
    module = importlib.import_module(module_name)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.run(module.main, module.parse_arguments, argv)
            status = 0
        except SystemExit as exit_info:
            status = exit_info.code
    return {'status': status, 'stdout': out.getvalue(), 'stderr': err.getvalue()}


if __name__ == '__main__':
    results = [run_script(name, argv) for name, argv in json.loads(sys.argv[1])]
    sys.stdout.write('\n' + json.dumps(results) + '\n')
