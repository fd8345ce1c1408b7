"""Loading a model for fast inference: frozen, with its graph rewritten for speed.

Scripts that only compute embeddings use ``load_inference_model`` instead of the classic
``load_model``: a checkpoint is rebuilt from code in inference mode and frozen in memory,
then batch norms and residual scales are folded into the convolutions, sibling 1x1
convolutions merged, and batches of two or more images split in halves that run through two
copies of the network at once (``graph_optimize``). Embeddings equal the classic graph's to float
rounding (about 1e-7).
"""
import os

from toolkit.errors import FacenetError
from toolkit.inference import graph_optimize
from toolkit.modelfiles import loading, writing
from toolkit.tf_compat import tf


def frozen_graph_def(model, image_size=loading.DEFAULT_IMAGE_SIZE, *, networks):
    """The model as a frozen GraphDef: read from a ``.pb`` or frozen from a checkpoint
    (rebuilt from code by ``networks``: model_def name -> network module)."""
    kind, path = loading.resolve_model(model)
    if kind == 'graph':
        return loading.read_graph_def(path)
    _, ckpt_file = loading.get_model_filenames(path)
    return writing.frozen_checkpoint_graph_def(os.path.join(path, ckpt_file), networks,
                                               image_size)


def load_inference_model(model, input_map=None, image_size=loading.DEFAULT_IMAGE_SIZE,
                         optimize=True, *, networks):
    """Import ``model`` into the default graph for inference; return its ModelTensors.

    Args:
        model: anything ``loading.load_model`` accepts.
        input_map: optional ``{'input:0': tensor}``.
        image_size: input size when a checkpoint is rebuilt from code.
        optimize: apply the ``graph_optimize`` rewrites.
        networks: model_def name -> network module, to rebuild a checkpoint from code
            (scripts pass ``models.import_network``).
    """
    graph_def = frozen_graph_def(model, image_size, networks=networks)
    if optimize:
        graph_def = graph_optimize.optimize_for_inference(graph_def)
    try:
        tf.import_graph_def(graph_def, input_map=input_map, name='')
    except ValueError as error:
        raise FacenetError('cannot import model %s: %s' % (model, error)) from None
    return loading.get_model_tensors()
