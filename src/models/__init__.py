"""Network definitions; each exposes ``inference(images, keep_probability, phase_train,
bottleneck_layer_size, weight_decay, reuse)`` returning ``(prelogits, end_points)``.

``import_network`` is the one place where a network module is found by its name (a
``--model_def`` flag, or the name the library reads from a checkpoint's variables): scripts
pass it to the library functions that take ``networks``, so the library never imports this
package.
"""
import importlib

from toolkit.errors import FacenetError


def import_network(model_def):
    """The module named ``model_def`` (e.g. ``models.inception_resnet_v1``).

    Raises:
        FacenetError: it cannot be imported or has no ``inference`` function.
    """
    try:
        network = importlib.import_module(model_def)
    except ImportError as error:
        raise FacenetError('cannot import --model_def %s: %s' % (model_def, error)) from None
    if not hasattr(network, 'inference'):
        raise FacenetError('--model_def %s has no inference() function' % model_def)
    return network
