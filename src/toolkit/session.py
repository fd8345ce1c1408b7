"""Session configuration shared by every script (GPU memory fraction, CPU threads), and the
``with`` support of the objects that own a session."""
import os

from toolkit.tf_compat import tf


def usable_cores():
    """CPU cores this process may run on (its affinity mask, e.g. under taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def session_config(gpu_memory_fraction=1.0, log_device_placement=False, op_threads=None):
    """A ConfigProto capping this process's GPU memory at ``gpu_memory_fraction``.

    On a CPU-only machine the GPU options are ignored by TensorFlow. With ``op_threads``
    every op runs on one thread and up to ``op_threads`` ops run at once (for callers that
    run several sessions runs in parallel threads); by default TensorFlow splits large ops
    over all cores.
    """
    gpu_options = tf.GPUOptions(per_process_gpu_memory_fraction=gpu_memory_fraction)
    config = tf.ConfigProto(gpu_options=gpu_options, log_device_placement=log_device_placement,
                            allow_soft_placement=True)
    if op_threads:
        config.intra_op_parallelism_threads = 1
        config.inter_op_parallelism_threads = op_threads
    return config


def new_session(graph=None, gpu_memory_fraction=1.0, op_threads=None):
    """A Session on ``graph`` (default graph when None) configured by session_config."""
    return tf.Session(graph=graph, config=session_config(gpu_memory_fraction,
                                                         op_threads=op_threads))


class ClosedOnExit:
    """Base of the objects with a ``close`` method (their sessions): ``with obj:`` closes
    the object when the block ends, also when it raises."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
