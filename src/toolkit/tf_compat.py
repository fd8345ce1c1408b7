"""TensorFlow in TF1 graph mode, imported one way by every module.

The toolkit builds graphs with placeholders, sessions and reference variables like
the classic code, so the v2 behaviours (eager execution, resource variables, control
flow v2) are switched off once, here. Import ``tf`` from this module, never
``tensorflow`` directly.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# TensorFlow turns its oneDNN CPU kernels on by default only on the newest CPUs. On an
# AVX2 CPU they make the MTCNN networks about 2x, a training step 1.3-1.4x and the
# Inception-ResNet forward pass about 1.5x faster (tmp/bench_*.py); results agree to
# float rounding. TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')

# TensorFlow's __init__ imports Keras (and through it scikit-learn) eagerly, only to register
# Keras optimizers for reading Keras SavedModels, which the toolkit never does: about a third of
# TensorFlow's start-up here. A None entry in sys.modules makes that one import fail at once
# (TensorFlow ignores the ImportError); removing the entry afterwards lets a later
# ``import keras`` work as usual.
KERAS_EAGER_IMPORTS = ('keras.src.optimizers', 'tf_keras.src.optimizers')
_blocked = [name for name in KERAS_EAGER_IMPORTS
            if 'tensorflow' not in sys.modules and name not in sys.modules]
for _name in _blocked:
    sys.modules[_name] = None
try:
    import tensorflow as _tf  # noqa: E402
finally:
    for _name in _blocked:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

_tf.get_logger().setLevel('ERROR')
_tf.compat.v1.disable_v2_behavior()

tf = _tf.compat.v1
tf2 = _tf
