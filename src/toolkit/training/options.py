"""The settings the training library takes, as small typed records (no TensorFlow here).

Scripts turn their parsed flags into these (``toolkit.cli.arguments``); the library never sees
an argparse Namespace.
"""
import dataclasses


def parse_scopes(text):
    """``--trainable_scopes`` text ``"a,b"`` -> ``('a', 'b')`` (empty: all variables)."""
    return tuple(scope.strip() for scope in text.split(',') if scope.strip())


@dataclasses.dataclass(frozen=True)
class NetworkOptions:
    """How ``towers.build_network`` calls a model's ``inference()``.

    Attributes:
        model_def: the model module's name (for messages), e.g. ``models.inception_resnet_v1``.
        image_size: input height and width.
        embedding_size: size of the bottleneck (prelogits).
        keep_probability: dropout keep probability while training.
        weight_decay: L2 factor of the weights.
        trainable_scopes: variable scopes to train (empty: all); batch norms outside are frozen.
        sync_batch_norm: batch-norm statistics over the replicas' whole batch when training
            on several replicas.
        dtype: float type of the network's variables and arithmetic. Training and every
            saved model use ``float32``; the equivalence tests of distributed training use
            ``float64``, where float32's rounding would flip ReLUs and move some updates by
            a few percent.
    """
    model_def: str
    image_size: int
    embedding_size: int
    keep_probability: float = 1.0
    weight_decay: float = 0.0
    trainable_scopes: tuple = ()
    sync_batch_norm: bool = False
    dtype: str = 'float32'


@dataclasses.dataclass(frozen=True)
class LfwOptions:
    """The LFW check after each epoch (the ``--lfw_*`` flags); ``lfw_dir`` empty: no check."""
    lfw_dir: str = ''
    pairs_file: str = 'data/pairs.txt'
    batch_size: int = 100
    nrof_folds: int = 10
    distance_metric: int = 0
    subtract_mean: bool = False
    use_flipped_images: bool = False
