"""Run the worker processes of one test cluster and wait for them, within a time bound.

Usage: ``python cluster_launcher.py <spec.json>``. The spec holds ``timeout`` (seconds) and
``workers``: a list of ``{"argv": [...], "env": {...}, "log": path}``. Every worker starts at
once; after the timeout the ones still running are killed. The exit codes are written to
``<spec.json>.result`` (None for a killed worker).

The tests run this launcher in a private network namespace when the system allows it
(``unshare -rn``), so the workers' servers can be reached over loopback only.
"""
import json
import os
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


if __name__ == '__main__':
    main(sys.argv[1])
