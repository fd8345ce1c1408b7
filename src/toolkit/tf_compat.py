"""TensorFlow in TF1 graph mode, imported one way by every module.

The toolkit builds graphs with placeholders, sessions and reference variables like
the classic code, so the v2 behaviours (eager execution, resource variables, control
flow v2) are switched off once, here. Import ``tf`` from this module, never
``tensorflow`` directly.
"""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as _tf  # noqa: E402

_tf.get_logger().setLevel('ERROR')
_tf.compat.v1.disable_v2_behavior()

tf = _tf.compat.v1
tf2 = _tf
