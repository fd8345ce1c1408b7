"""Session configuration shared by every script (GPU memory fraction, CPU threads)."""
from toolkit.tf_compat import tf


def session_config(gpu_memory_fraction=1.0, log_device_placement=False):
    """A ConfigProto capping this process's GPU memory at ``gpu_memory_fraction``.

    On a CPU-only machine the GPU options are ignored by TensorFlow.
    """
    gpu_options = tf.GPUOptions(per_process_gpu_memory_fraction=gpu_memory_fraction)
    return tf.ConfigProto(gpu_options=gpu_options, log_device_placement=log_device_placement,
                          allow_soft_placement=True)


def new_session(graph=None, gpu_memory_fraction=1.0):
    """A Session on ``graph`` (default graph when None) configured by session_config."""
    return tf.Session(graph=graph, config=session_config(gpu_memory_fraction))
