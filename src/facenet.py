"""The public facenet module: the classic function names, re-exported from focused modules.

Users' code keeps importing ``facenet``; the work is done in ``toolkit.*``. Each section below
re-exports one library module.
"""
# Verification metrics (ROC, validation rate at a target FAR).
from toolkit.evaluation.metrics import (  # noqa: F401
    calculate_accuracy, calculate_roc, calculate_val, calculate_val_far, distance)

# Datasets and images.
from toolkit.data.folders import (  # noqa: F401,E402
    ImageClass, crop, fixed_standardization, flip, get_dataset, get_image_paths,
    get_image_paths_and_labels, load_data, prewhiten, read_rgb_image, split_dataset, to_rgb)

# Run records next to outputs.
from toolkit.fileio import store_revision_info, write_arguments_to_file  # noqa: F401,E402

# Loading models and finding their tensors.
import models  # noqa: E402
from toolkit.modelfiles import loading  # noqa: E402
from toolkit.modelfiles.loading import (  # noqa: F401,E402
    get_model_filenames, get_model_tensors, inference_feed)


def load_model(model, input_map=None, session=None, image_size=loading.DEFAULT_IMAGE_SIZE):
    """Classic ``facenet.load_model`` (``loading.load_model``); a checkpoint whose ``.meta``
    is missing or cannot be imported is rebuilt from its network's code."""
    loading.load_model(model, input_map, session, image_size, networks=models.import_network)


# Image grids (the VAE reconstructions) and dataset filtering by distance to class centre.
from toolkit.data.filtering import filter_dataset  # noqa: F401,E402
from toolkit.plotting import put_images_on_grid  # noqa: F401,E402


def list_variables(filename):
    """Sorted names of the variables stored in a checkpoint."""
    from toolkit.modelfiles.loading import checkpoint_variables
    return sorted(checkpoint_variables(filename))


# Input-pipeline control flags, learning-rate schedule files and the classic losses.
from toolkit.data.control_flags import (  # noqa: F401,E402
    FIXED_STANDARDIZATION, FLIP, RANDOM_CROP, RANDOM_FLIP, RANDOM_ROTATE, get_control_flag)
from toolkit.training.learning_rate import get_learning_rate_from_file  # noqa: F401,E402
from toolkit.training.losses import center_loss, triplet_loss  # noqa: F401,E402

# The classic train op (optimizer step, moving averages of losses and weights).
from toolkit.training.towers import train  # noqa: F401,E402
