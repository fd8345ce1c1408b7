"""The VAE experiments: model definitions, train_vae with a perceptual loss on aligned LFW
faces, attribute vectors from a tiny labelled set, and adding an attribute to faces."""
import os
import re

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import LFW_DIR, shared_path
from generative import calculate_attribute_vectors, modify_attribute, train_vae
from generative import vae as vae_lib
from models import inception_resnet_v1
from toolkit import cli
from toolkit.errors import FacenetError
from toolkit.modelfiles.loading import checkpoint_variables
from toolkit.tf_compat import tf
from test_train_softmax import only_subdir

INPUT_IMAGE_SIZE = 80
STEM_SCOPES = ('InceptionResnetV1/Conv2d_1a_3x3/', 'InceptionResnetV1/Conv2d_2a_3x3/',
               'InceptionResnetV1/Conv2d_2b_3x3/')


# -- model definitions ----------------------------------------------------------------------

@pytest.mark.parametrize('vae_def, image_size, nrof_variables, first_names', [
    ('generative.models.dfc_vae', 64, 38,
     ['encoder/Conv2d_1/weights', 'encoder/Conv2d_1/BatchNorm/beta']),
    ('src.generative.models.dfc_vae_large', 128, 46,
     ['encoder/Conv2d_1/weights', 'encoder/Conv2d_1/BatchNorm/beta']),
    ('generative.models.dfc_vae_resnet', 64, 138,
     ['encoder/Conv2d_1a/weights', 'encoder/Conv2d_1a/BatchNorm/beta']),
])
def test_vae_definitions(vae_def, image_size, nrof_variables, first_names):
    with tf.Graph().as_default():
        vae = vae_lib.create_vae(vae_def, 20)
        assert vae.get_image_size() == image_size
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3])
        mean, log_variance = vae.encoder(images, True)
        reconstructed = vae.decoder(mean, False)
        assert mean.get_shape().as_list() == [None, 20]
        assert log_variance.get_shape().as_list() == [None, 20]
        assert reconstructed.get_shape().as_list() == [None, image_size, image_size, 3]
        names = [v.op.name for v in tf.global_variables()]
        assert len(names) == nrof_variables
        assert names[:2] == first_names
        assert 'encoder/Fc_2/biases' in names and 'decoder/Fc_1/weights' in names
        assert 'decoder/Conv2d_1/BatchNorm/moving_variance' in names or vae_def.endswith('resnet')
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = sess.run(reconstructed, {images: np.zeros((3, image_size, image_size, 3))})
        assert out.shape == (3, image_size, image_size, 3) and np.all(np.isfinite(out))


def test_kl_divergence_and_normalization():
    mean = np.array([[0.0, 1.0], [2.0, 0.0]], np.float32)
    log_variance = np.array([[0.0, 0.0], [np.log(2.0), 0.0]], np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        kl = sess.run(vae_lib.kl_divergence_loss(tf.constant(mean), tf.constant(log_variance)))
    # 0.5 * sum(var + mean^2 - 1 - log var)
    np.testing.assert_allclose(kl, [0.5, 0.5 * (2 + 4 - 1 - np.log(2))], rtol=1e-6)
    pixels = np.array([[10.0, 200.0, 90.0]])
    np.testing.assert_allclose(vae_lib.denormalize(vae_lib.normalize(pixels)), pixels, rtol=1e-5)


def test_attribute_vectors_and_sweep():
    latent = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    attributes = np.array([[1, 1], [1, 1], [-1, 1], [-1, 1]])
    vectors = vae_lib.compute_attribute_vectors(latent, attributes)
    np.testing.assert_allclose(vectors, [[2.0, -3.0], [0.0, 0.0]])  # every face has attr 1
    sweep = vae_lib.attribute_sweep(latent[2:], vectors[0], 4, 2.0)
    assert sweep.shape == (8, 2)
    np.testing.assert_allclose(sweep[:4], [[0, 2], [1, 0.5], [2, -1], [3, -2.5]])
    np.testing.assert_allclose(sweep[4], latent[3])


def test_read_celeba_attributes(tmp_path):
    path = tmp_path / 'list_attr.txt'
    path.write_text('2\nSmiling Male \n000001.jpg  1 -1\n000002.jpg -1  1\n')
    fields, attributes = vae_lib.read_celeba_attributes(str(path))
    assert fields == ['Smiling', 'Male']
    assert list(attributes['000002']) == [-1, 1]
    path.write_text('2\nSmiling Male\n000001.jpg 1 -1\n000002.jpg -1\n')
    with pytest.raises(FacenetError, match=r'list_attr.txt:4: expected an image name and 2 values'):
        vae_lib.read_celeba_attributes(str(path))


# -- train, calculate attribute vectors, modify ---------------------------------------------

def _aligned_lfw_faces(folder, nrof_people=4, per_person=2):
    """LFW faces centre-cropped to 160 and resized to 80 pixels, in class folders."""
    lfw_dir = shared_path('data', 'lfw', 'images_deepfunneled')
    people = [name for name in sorted(os.listdir(lfw_dir))
              if os.path.isdir(os.path.join(lfw_dir, name))
              and len(os.listdir(os.path.join(lfw_dir, name))) >= per_person][:nrof_people]
    paths = []
    for person in people:
        os.makedirs(os.path.join(folder, person))
        for name in sorted(os.listdir(os.path.join(lfw_dir, person)))[:per_person]:
            with Image.open(os.path.join(lfw_dir, person, name)) as image:
                face = image.convert('RGB').crop((45, 45, 205, 205)).resize(
                    (INPUT_IMAGE_SIZE, INPUT_IMAGE_SIZE), Image.BILINEAR)
            path = os.path.join(folder, person, os.path.splitext(name)[0] + '.png')
            face.save(path)
            paths.append(path)
    return paths


def _inception_stem_checkpoint(folder):
    """A randomly initialised Inception-ResNet-v1, saved with the stem layers only."""
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, INPUT_IMAGE_SIZE, INPUT_IMAGE_SIZE, 3])
        inception_resnet_v1.inference(images, 1.0, phase_train=False)
        stem = [v for v in tf.global_variables() if v.op.name.startswith(STEM_SCOPES)]
        with tf.Session() as sess:
            sess.run(tf.variables_initializer(stem))
            os.makedirs(folder)
            tf.train.Saver(stem).save(sess, os.path.join(folder, 'model-stem.ckpt'),
                                      global_step=1, write_meta_graph=False)
    return folder


@pytest.fixture(scope='module')
def trained_vae(tmp_path_factory):
    """Three steps of train_vae with the perceptual loss on eight aligned LFW faces."""
    root = tmp_path_factory.mktemp('vae')
    faces = _aligned_lfw_faces(str(root / 'faces'))
    facenet_dir = _inception_stem_checkpoint(str(root / 'facenet'))
    args = train_vae.parse_arguments([
        'src.generative.models.dfc_vae', str(root / 'faces'), 'src.models.inception_resnet_v1',
        facenet_dir, '--models_base_dir', str(root / 'vae'), '--max_nrof_steps', '3',
        '--save_every_n_steps', '2', '--batch_size', '4', '--input_image_size',
        str(INPUT_IMAGE_SIZE), '--latent_var_size', '16'])
    assert args.reconstruction_loss_type == 'PERCEPTUAL' and args.beta == 0.5
    assert train_vae.main(args) == 0
    (subdir,) = os.listdir(str(root / 'vae'))
    return root, faces, os.path.join(str(root / 'vae'), subdir)


def test_train_vae_writes_checkpoints_logs_and_grids(trained_vae):
    _, _, model_dir = trained_vae
    names = set(os.listdir(model_dir))
    assert {'arguments.txt', 'revision_info.txt', 'logs.h5', 'checkpoint',
            'reconstructed_000002.png', 'reconstructed_000003.png',
            'model.ckpt-2.index', 'model.ckpt-3.index'} <= names
    with h5py.File(os.path.join(model_dir, 'logs.h5'), 'r') as handle:
        log = {key: handle[key][()] for key in handle}
    assert sorted(log) == ['kl_loss', 'learning_rate', 'reconstruction_loss', 'total_loss']
    assert all(len(values) == 3 and np.all(np.isfinite(values)) for values in log.values())
    np.testing.assert_allclose(log['learning_rate'], 0.0005)
    np.testing.assert_allclose(log['total_loss'],
                               log['kl_loss'] + 0.5 * log['reconstruction_loss'], rtol=1e-5)
    assert np.all(log['reconstruction_loss'] > 0)
    stored = checkpoint_variables(os.path.join(model_dir, 'model.ckpt-3'))
    assert 'encoder/Conv2d_1/weights' in stored and 'decoder/Conv2d_4/BatchNorm/beta' in stored
    assert not any(name.startswith('InceptionResnetV1') for name in stored)
    with Image.open(os.path.join(model_dir, 'reconstructed_000003.png')) as grid:
        assert grid.size == (4 * 67 + 3, 67 + 3)  # 4 faces of 64 pixels with 3-pixel borders


def test_attribute_vectors_and_modified_faces(trained_vae, capsys):
    root, faces, model_dir = trained_vae
    # A tiny labelled set: the first half of the faces "smile", the others wear glasses.
    annotations = root / 'list_attr.txt'
    lines = ['%d' % len(faces), 'Smiling Eyeglasses']
    for index, path in enumerate(faces):
        smiling = 1 if index < len(faces) // 2 else -1
        lines.append('%s %d %d' % (os.path.basename(path), smiling, -smiling))
    annotations.write_text('\n'.join(lines) + '\n')
    attributes_file = str(root / 'attribute_vectors.h5')
    args = calculate_attribute_vectors.parse_arguments([
        'generative.models.dfc_vae', model_dir, str(root / 'faces'), str(annotations),
        attributes_file, '--image_size', str(INPUT_IMAGE_SIZE), '--batch_size', '3',
        '--latent_var_size', '16'])
    assert calculate_attribute_vectors.main(args) == 0
    assert re.search(r'^Encoding: 8 images in \d+:\d\d ', capsys.readouterr().err, re.M)
    latent_vars, attributes, fields, vectors = vae_lib.read_attribute_file(attributes_file)
    assert fields == ['Smiling', 'Eyeglasses']
    assert latent_vars.shape == (8, 16) and vectors.shape == (2, 16)
    np.testing.assert_array_equal(attributes[:, 0], [1, 1, 1, 1, -1, -1, -1, -1])
    smile = latent_vars[:4].mean(0) - latent_vars[4:].mean(0)
    np.testing.assert_allclose(vectors[0], smile, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vectors[1], -smile, rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(smile) > 0

    output = str(root / 'add_smile.png')
    args = modify_attribute.parse_arguments([
        'generative.models.dfc_vae', model_dir, attributes_file, output, '--latent_var_size',
        '16', '--image_indices', '0,3', '--nrof_interp_steps', '3'])
    assert args.attribute == 'Smiling' and args.max_strength == 5.0
    assert modify_attribute.main(args) == 0
    with Image.open(output) as image:
        grid = np.asarray(image.convert('RGB'))
    assert grid.shape == (67 + 3, 6 * 67 + 3, 3)  # two faces x three strengths in one row
    tiles = [grid[3:67, 3 + 67 * i:67 + 67 * i].astype(int) for i in range(6)]
    assert not np.array_equal(tiles[0], tiles[2])  # the smile vector changes the face
    assert not np.array_equal(tiles[0], tiles[3])  # two different faces


def test_vae_scripts_reject_bad_input(tmp_path, trained_vae, capsys):
    root, _, model_dir = trained_vae
    faces = str(root / 'faces')
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / '000001.png').write_text('not an image')
    annotations = tmp_path / 'list_attr.txt'
    annotations.write_text('1\nSmiling\n000001.png 1\n')
    empty = tmp_path / 'empty'
    empty.mkdir()
    cases = [
        (calculate_attribute_vectors, ['generative.models.dfc_vae', model_dir, str(broken),
                                       str(annotations), str(tmp_path / 'out.h5'),
                                       '--latent_var_size', '16'],
         'cannot read an input image (is every file in the data directory a readable image?): '
         'Unknown image file format'),
        (train_vae, ['generative.models.nope', faces, 'models.inception_resnet_v1', 'x'],
         'cannot import VAE definition "generative.models.nope"'),
        (train_vae, ['generative.models.dfc_vae', faces, 'models.inception_resnet_v1',
                     str(tmp_path / 'missing')], 'pretrained model checkpoint not found'),
        (train_vae, ['generative.models.dfc_vae', str(empty), 'models.inception_resnet_v1',
                     'x', '--reconstruction_loss_type', 'PLAIN'], 'no images found'),
        (calculate_attribute_vectors, ['generative.models.dfc_vae', str(tmp_path / 'none'),
                                       faces, 'a.txt', 'out.h5'], 'VAE checkpoint not found'),
        (modify_attribute, ['generative.models.dfc_vae', model_dir, str(tmp_path / 'a.h5'),
                            'out.png'], 'attributes file not found'),
    ]
    for script, argv, message in cases:
        argv = argv + ['--models_base_dir', str(tmp_path / 'vae')] if script is train_vae else argv
        with pytest.raises(SystemExit) as exit_info:
            cli.run(script.main, script.parse_arguments, argv)
        assert exit_info.value.code == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith('error: ') and message in err and '\n' not in err, err
    assert not os.path.exists(str(tmp_path / 'vae'))
    assert not os.path.exists(str(tmp_path / 'out.h5'))


def test_unknown_loss_feature_is_reported(tmp_path, trained_vae):
    root, _, _ = trained_vae
    args = train_vae.parse_arguments([
        'generative.models.dfc_vae', str(root / 'faces'), 'models.inception_resnet_v1',
        str(root / 'facenet'), '--models_base_dir', str(tmp_path / 'vae'), '--loss_features',
        'Conv2d_1a', '--input_image_size', str(INPUT_IMAGE_SIZE), '--batch_size', '2'])
    with pytest.raises(FacenetError, match='unknown --loss_features Conv2d_1a; the network has'):
        train_vae.main(args)
    assert not os.path.exists(str(tmp_path / 'vae'))


def test_train_vae_that_fails_or_is_interrupted_before_training_leaves_nothing(
        tmp_path, trained_vae, monkeypatch, capsys):
    root, _, vae_dir = trained_vae
    base = tmp_path / 'vae' / 'runs'  # neither folder exists before the run

    def run(pretrained, *extra):
        with pytest.raises(SystemExit) as exit_info:
            cli.run(train_vae.main, train_vae.parse_arguments, [
                'generative.models.dfc_vae', str(root / 'faces'), 'models.inception_resnet_v1',
                pretrained, '--models_base_dir', str(base), '--batch_size', '2',
                '--input_image_size', str(INPUT_IMAGE_SIZE), '--latent_var_size', '16', *extra])
        return exit_info.value.code, capsys.readouterr()
    # Bad input found only once the graph is built and the folders are made: the VAE's own
    # checkpoint given where the face network's is expected.
    code, captured = run(vae_dir)
    assert code == 1 and 'Model directory: ' in captured.out
    assert re.fullmatch(r'error: pretrained model checkpoint \S+model.ckpt-3 lacks \d+ of the '
                        r'\d+ variables needed \(e.g. InceptionResnetV1/\S+\); is it the right '
                        r'model\?\n', captured.err), captured.err
    assert os.listdir(tmp_path) == []
    # Ctrl-C after arguments.txt is written, before training starts.

    def interrupted(*args):
        assert os.path.isfile(os.path.join(only_subdir(base), 'arguments.txt'))
        raise KeyboardInterrupt
    monkeypatch.setattr(train_vae, 'store_revision_info', interrupted)
    code, captured = run('unused', '--reconstruction_loss_type', 'PLAIN')
    assert code == 130 and captured.err == 'interrupted\n'
    assert os.listdir(tmp_path) == []
