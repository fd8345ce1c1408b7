"""Run the worker processes of one test cluster and wait for them, within a time bound.

Usage: ``python cluster_launcher.py <spec.json>``. The spec holds ``timeout`` (seconds) and
``workers``: a list of ``{"argv": [...], "env": {...}, "log": path}``; a worker may also have
``"interrupt": "<text>"``: it gets a SIGINT (Ctrl-C) once its log shows that text. Every
worker starts at once; after the timeout the ones still running are killed. The exit codes
are written to ``<spec.json>.result`` (None for a killed worker).

The tests run this launcher in a private network namespace when the system allows it
(``unshare -rn``), so the workers' servers can be reached over loopback only.
"""
import json
import os
import signal
import subprocess
import sys
import time


def main(spec_path):
    with open(spec_path) as handle:
        spec = json.load(handle)
    processes = []
    for worker in spec['workers']:
        log = open(worker['log'], 'w')
        env = dict(os.environ, **worker.get('env', {}))
        processes.append((subprocess.Popen(worker['argv'], stdout=log, stderr=subprocess.STDOUT,
                                           env=env), log))
    deadline = time.time() + spec['timeout']
    for worker, (process, _) in zip(spec['workers'], processes):
        if worker.get('interrupt'):
            interrupt_on(process, worker['log'], worker['interrupt'], deadline)
    codes = []
    for process, log in processes:
        try:
            codes.append(process.wait(timeout=max(deadline - time.time(), 0.1)))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            codes.append(None)
        log.close()
    with open(spec_path + '.result', 'w') as handle:
        json.dump(codes, handle)


def interrupt_on(process, log_path, text, deadline):
    """Send SIGINT to ``process`` once its log holds ``text`` (before ``deadline``)."""
    while time.time() < deadline and process.poll() is None:
        with open(log_path, errors='replace') as handle:
            if text in handle.read():
                process.send_signal(signal.SIGINT)
                return
        time.sleep(0.05)


if __name__ == '__main__':
    main(sys.argv[1])
