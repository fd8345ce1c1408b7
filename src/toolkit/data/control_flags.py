"""The classic input-pipeline control flags: bits of one integer per image.

Classic code fed ``control`` values such as ``RANDOM_CROP + RANDOM_FLIP`` next to each
image path; ``get_control_flag`` tests one bit inside a graph.
"""
from toolkit.tf_compat import tf

RANDOM_ROTATE = 1
RANDOM_CROP = 2
RANDOM_FLIP = 4
FIXED_STANDARDIZATION = 8
FLIP = 16


def control_value(random_rotate=False, random_crop=False, random_flip=False,
                  fixed_standardization=False, flip=False):
    """The integer whose bits switch the named operations on."""
    return (RANDOM_ROTATE * random_rotate + RANDOM_CROP * random_crop
            + RANDOM_FLIP * random_flip + FIXED_STANDARDIZATION * fixed_standardization
            + FLIP * flip)


def get_control_flag(control, field):
    """Boolean tensor: is bit ``field`` set in the integer tensor ``control``?"""
    return tf.equal(tf.math.floormod(tf.math.floordiv(control, field), 2), 1)
