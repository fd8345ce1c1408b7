"""validate_on_lfw.py and the PathEmbedder behind it, with tiny frozen models (no weights needed)."""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

import validate_on_lfw
from conftest import LFW_DIR, shared_path
from toolkit import cli, plotting
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.evaluation import lfw
from toolkit.inference import path_embedder
from toolkit.modelfiles import loading
from toolkit.session import new_session
from toolkit.tf_compat import tf

CROP = 32


def _write_graph(path, build):
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, None, None, 3], name='input')
        tf.placeholder_with_default(False, [], name='phase_train')
        build(images)
        with open(path, 'wb') as handle:
            handle.write(graph.as_graph_def().SerializeToString())
    return str(path)


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Frozen .pb models: 'identity' returns the standardized input pixels (CROP x CROP) as the
    embedding; 'pooled' a 32-d unit vector of 8x8 area-averaged pixels (any input size);
    'headless' has no embeddings tensor."""
    folder = tmp_path_factory.mktemp('models')
    projection = np.random.RandomState(0).standard_normal((8 * 8 * 3, 32)).astype(np.float32)

    def identity(images):
        tf.identity(tf.reshape(images, [-1, CROP * CROP * 3]), name='embeddings')

    def pooled(images):
        small = tf.image.resize(images, [8, 8], method='area')  # batch x 8 x 8 x 3
        features = tf.matmul(tf.reshape(small, [-1, 8 * 8 * 3]), projection)  # batch x 32
        tf.nn.l2_normalize(features, 1, 1e-10, name='embeddings')

    def headless(images):
        tf.reduce_mean(images, [1, 2, 3], name='features')

    return {name: _write_graph(folder / (name + '.pb'), build)
            for name, build in [('identity', identity), ('pooled', pooled), ('headless', headless)]}


def _person_image(rng, base):
    noisy = base.astype(np.float64) + rng.normal(0, 6, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def tiny_lfw(tmp_path_factory):
    """Six people with three 40x40 images each (smooth random faces plus noise; png and jpg)
    and a pairs file of 10 same and 10 different pairs, interleaved."""
    root = tmp_path_factory.mktemp('tiny_lfw')
    lfw_dir = root / 'lfw'
    rng = np.random.RandomState(1)
    names = ['Person_%d' % i for i in range(6)]
    for index, name in enumerate(names):
        os.makedirs(lfw_dir / name)
        coarse = rng.randint(0, 256, (5, 5, 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((40, 40), Image.BICUBIC))
        for number in (1, 2, 3):
            ext = 'png' if index % 2 == 0 else 'jpg'
            Image.fromarray(_person_image(rng, base)).save(
                lfw_dir / name / ('%s_%04d.%s' % (name, number, ext)), quality=95)
    lines = ['10\t300']
    for k in range(10):
        name, other = names[k % 6], names[(k + 1 + k // 6) % 6]
        lines.append('%s\t%d\t%d' % (name, 1 + k % 2, 2 + k % 2))
        lines.append('%s\t%d\t%s\t%d' % (name, 1 + k % 3, other, 1 + (k + 1) % 3))
    pairs = root / 'pairs.txt'
    pairs.write_text('\n'.join(lines) + '\n')
    return str(lfw_dir), str(pairs)


def _run(argv, capsys):
    """cli.run the script in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.run(validate_on_lfw.main, validate_on_lfw.parse_arguments, argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


# -- PathEmbedder ------------------------------------------------------------------------------

@pytest.fixture
def identity_session(models):
    with tf.Graph().as_default():
        with new_session() as sess:
            loading.load_model(models['identity'], session=sess)
            yield sess, loading.get_model_tensors()


def _images(tiny_lfw):
    lfw_dir = tiny_lfw[0]
    return sorted(os.path.join(lfw_dir, name, image) for name in os.listdir(lfw_dir)
                  for image in os.listdir(os.path.join(lfw_dir, name)))


@pytest.mark.parametrize('fixed', [False, True])
def test_embedder_crops_standardizes_and_flips(identity_session, tiny_lfw, fixed):
    sess, tensors = identity_session
    # PNG only: TensorFlow's default JPEG decoding (fast IDCT) differs from Pillow's by a few levels.
    paths = [path for path in _images(tiny_lfw) if path.endswith('.png')][:5]
    with sess.graph.as_default():
        embedder = path_embedder.PathEmbedder(tensors, CROP, batch_size=3, fixed_standardization=fixed)
    embeddings = embedder.embed(sess, paths, flipped=True)
    size = CROP * CROP * 3
    assert embeddings.shape == (5, 2 * size)
    standardize = folders.fixed_standardization if fixed else folders.prewhiten
    for path, row in zip(paths, embeddings):
        cropped = folders.crop(folders.read_rgb_image(path).astype(np.float64), False, CROP)
        np.testing.assert_allclose(row[:size], standardize(cropped).ravel(), atol=2e-5)
        np.testing.assert_allclose(row[size:], standardize(cropped[:, ::-1]).ravel(), atol=2e-5)


def test_embedder_batch_size_need_not_divide_and_is_reusable(identity_session, tiny_lfw):
    sess, tensors = identity_session
    paths = _images(tiny_lfw)
    whole = path_embedder.embed_image_paths(sess, tensors, paths, 100, CROP)
    with sess.graph.as_default():
        embedder = path_embedder.PathEmbedder(tensors, CROP, batch_size=7)
    progress = []
    np.testing.assert_array_equal(
        embedder.embed(sess, paths, progress=lambda *a: progress.append(a)), whole)
    assert progress == [(1, 3), (2, 3), (3, 3)]
    np.testing.assert_array_equal(embedder.embed(sess, paths[5:9]), whole[5:9])
    assert embedder.embed(sess, []).shape == (0, CROP * CROP * 3)


def test_embedder_reads_a_repeated_path_once(identity_session, tiny_lfw):
    sess, tensors = identity_session
    paths = _images(tiny_lfw)[:6]
    with sess.graph.as_default():
        embedder = path_embedder.PathEmbedder(tensors, CROP, batch_size=4)
    once = embedder.embed(sess, paths, flipped=True)
    repeated = [paths[i] for i in (3, 0, 3, 5, 1, 2, 4, 0, 3)]
    progress = []
    embeddings = embedder.embed(sess, repeated, flipped=True,
                                progress=lambda *a: progress.append(a))
    np.testing.assert_array_equal(embeddings, once[[3, 0, 3, 5, 1, 2, 4, 0, 3]])
    assert progress[-1] == (3, 3)  # 6 distinct images and their mirrors in batches of 4


def test_embedder_names_an_unreadable_image(identity_session, tiny_lfw, tmp_path):
    sess, tensors = identity_session
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG not really')
    paths = _images(tiny_lfw)[:4] + [str(broken)]
    with pytest.raises(FacenetError, match='broken.png'):
        path_embedder.embed_image_paths(sess, tensors, paths, 2, CROP)


# -- the ROC plot --------------------------------------------------------------------------------

def test_roc_plot_draws_the_curve_where_the_rates_are(tmp_path):
    from matplotlib.colors import to_rgb
    path = str(tmp_path / 'roc.png')
    # A perfect classifier: up the left edge, then along the top.
    figure = plotting.roc_curve_figure([0.0, 0.0, 1.0], [0.0, 1.0, 1.0], 'perfect')
    plotting.save_figure(figure, path)
    with Image.open(path) as image:
        pixels = np.asarray(image.convert('RGB')).astype(int)
    width, height = figure.canvas.get_width_height()
    assert pixels.shape == (height, width, 3)
    axes = figure.axes[0]
    roc_line = axes.get_lines()[0]
    curve = np.all(np.abs(pixels - 255 * np.array(to_rgb(roc_line.get_color()))) < 40, axis=2)

    def pixel(fpr, tpr):
        """Row and column of the image pixel at these rates."""
        x, y = axes.transData.transform((fpr, tpr))
        return int(round(height - y)), int(round(x))

    row, column = pixel(0.5, 1.0)
    assert curve[row - 2:row + 3, column].any()  # along the top at FPR 0.5
    row, column = pixel(0.0, 0.5)
    assert curve[row, column - 2:column + 3].any()  # up the left edge at TPR 0.5
    for rates in ((0.5, 0.5), (0.5, 0.25), (0.75, 0.5)):
        row, column = pixel(*rates)
        assert not curve[row - 3:row + 4, column - 3:column + 4].any()  # nothing inside
    assert os.listdir(tmp_path) == ['roc.png']


@pytest.mark.parametrize('extension, signature', [
    ('.pdf', b'%PDF'), ('.svg', b'<?xml'), ('.jpg', b'\xff\xd8\xff')])
def test_roc_plot_format_follows_the_extension(tmp_path, extension, signature):
    path = tmp_path / ('roc' + extension)
    plotting.write_roc_curve(str(path), [0.0, 0.1, 1.0], [0.0, 0.9, 1.0])
    assert path.read_bytes().startswith(signature)


def test_roc_plot_rejects_unknown_extension(tmp_path):
    with pytest.raises(FacenetError, match='cannot write a plot as ".txt"'):
        plotting.write_roc_curve(str(tmp_path / 'roc.txt'), [0, 1], [0, 1])
    assert os.listdir(tmp_path) == []


# -- the script --------------------------------------------------------------------------------

# 80 images (with mirrors) in batches of 7: one progress dot after 10 batches. With only 8
# different-person pairs per training fold no threshold has a FAR near 1e-3, so the classic
# interpolation lands near threshold 0 and the validation rate is 0.
EXPECTED_TINY = """Runnning forward pass on LFW images
.
Accuracy: 1.00000+-0.00000
Validation rate: 0.00000+-0.00000 @ FAR=0.00000
Area Under Curve (AUC): 1.000
Equal Error Rate (EER): 0.000
"""


def test_tiny_run_prints_classic_metrics_and_writes_files(models, tiny_lfw, tmp_path, capsys):
    lfw_dir, pairs = tiny_lfw
    plot, results = tmp_path / 'out' / 'roc.png', tmp_path / 'out' / 'results.json'
    code, out, err = _run([lfw_dir, models['pooled'], '--lfw_pairs', pairs, '--image_size', '32',
                           '--lfw_nrof_folds', '5', '--lfw_batch_size', '3', '--use_flipped_images',
                           '--distance_metric', '1', '--roc_plot', str(plot), '--results', str(results)], capsys)
    assert code == 0, err
    assert EXPECTED_TINY in out
    with Image.open(plot) as image:
        assert image.format == 'PNG' and image.size == (640, 480)
    saved = json.loads(results.read_text())
    assert saved['nrof_pairs'] == 20 and saved['nrof_skipped_pairs'] == 0
    assert saved['embedding_size'] == 64  # 32-d embeddings of the image and its mirror
    distinct = set(lfw.find_pair_paths(lfw_dir, lfw.read_pairs(pairs)).paths)
    assert len(distinct) < 40  # pairs name some images more than once: each is embedded once
    assert saved['nrof_images_embedded'] == 2 * len(distinct)
    assert saved['accuracy_per_fold'] == [1.0] * 5
    assert saved['auc'] == pytest.approx(1.0) and saved['eer'] == pytest.approx(0.0, abs=1e-9)
    assert saved['settings']['use_flipped_images'] is True
    assert len(saved['roc']['tpr']) == len(saved['roc']['fpr']) == 400
    assert sorted(os.listdir(tmp_path / 'out')) == ['results.json', 'roc.png']


def test_flipped_euclidean_keeps_classic_threshold_range(models, tiny_lfw, capsys):
    # Concatenated [image, mirror] embeddings are sqrt(2) long, so squared distances reach 8
    # while the classic ROC thresholds stop at 4: the curve ends before FPR 1 (AUC < 1).
    lfw_dir, pairs = tiny_lfw
    code, out, err = _run([lfw_dir, models['pooled'], '--lfw_pairs', pairs, '--image_size', '32',
                           '--lfw_nrof_folds', '5', '--use_flipped_images'], capsys)
    assert code == 0, err
    assert 'Accuracy: 1.00000+-0.00000\n' in out
    assert 'Area Under Curve (AUC): 0.600\nEqual Error Rate (EER): 0.000\n' in out


def test_skipped_pairs_are_reported(models, tiny_lfw, tmp_path, capsys):
    lfw_dir, pairs = tiny_lfw
    lines = open(pairs).read().splitlines()
    short = tmp_path / 'pairs.txt'
    short.write_text('\n'.join(lines + ['Nobody\t1\t2', 'Person_0\t1\tNobody\t1']) + '\n')
    code, out, err = _run([lfw_dir, models['pooled'], '--lfw_pairs', str(short),
                           '--image_size', '32', '--lfw_nrof_folds', '5'], capsys)
    assert code == 0, err
    assert 'Skipped 2 image pairs\n' in out
    assert 'Accuracy: ' in out


def test_real_lfw_images_centre_cropped(models, tmp_path, capsys):
    source = shared_path('data', 'lfw', 'pairs.txt')
    lines = open(source).read().splitlines()
    pairs = tmp_path / 'pairs.txt'
    pairs.write_text('\n'.join(lines[:1] + lines[1::150]) + '\n')  # 40 pairs, half of them same
    results = tmp_path / 'results.json'
    code, out, err = _run([LFW_DIR, models['pooled'], '--lfw_pairs', str(pairs),
                           '--distance_metric', '1', '--subtract_mean',
                           '--use_fixed_image_standardization', '--results', str(results)],
                          capsys)
    assert code == 0, err
    accuracy = re.search(r'^Accuracy: (\d\.\d{5})\+-(\d\.\d{5})$', out, re.M)
    assert re.search(r'^Validation rate: \d\.\d{5}\+-\d\.\d{5} @ FAR=\d\.\d{5}$', out, re.M)
    assert re.search(r'^Area Under Curve \(AUC\): \d\.\d{3}$', out, re.M)
    assert re.search(r'^Equal Error Rate \(EER\): \d\.\d{3}$', out, re.M)
    saved = json.loads(results.read_text())
    assert saved['nrof_pairs'] == 40 and saved['embedding_size'] == 32
    assert float(accuracy.group(1)) == round(saved['accuracy_mean'], 5)
    assert float(accuracy.group(2)) == round(saved['accuracy_std'], 5)
    assert 0.0 <= saved['auc'] <= 1.0 and 0.0 <= saved['eer'] <= 1.0


@pytest.mark.parametrize('problem, expected', [
    ('lfw_dir', 'error: LFW directory not found: '),
    ('pairs', 'line 3: expected "name i j" or "name1 i name2 j", got "Person_0 x 2"'),
    ('headless', 'error: the model has no "embeddings" tensor'),
    ('model', 'error: model not found: '),
    ('folds', 'error: 20 of the 20 pairs'),
    ('one_fold', 'error: --lfw_nrof_folds must be at least 2, got 1'),
    ('plot', 'error: cannot write a plot as ".xyz"'),
])
def test_bad_inputs_exit_1_with_one_line(models, tiny_lfw, tmp_path, capsys, problem, expected):
    lfw_dir, pairs = tiny_lfw
    argv = {'lfw_dir': lfw_dir, 'model': models['pooled'], 'pairs': pairs,
            'extra': ['--image_size', '32', '--lfw_nrof_folds', '5']}
    if problem == 'lfw_dir':
        argv['lfw_dir'] = str(tmp_path / 'missing')
    if problem == 'pairs':
        bad = tmp_path / 'bad_pairs.txt'
        bad.write_text('10\t300\nPerson_0\t1\t2\nPerson_0\tx\t2\n')
        argv['pairs'] = str(bad)
    if problem == 'headless':
        argv['model'] = models['headless']
    if problem == 'model':
        argv['model'] = str(tmp_path / 'no_model')
    if problem == 'folds':
        argv['extra'] = ['--image_size', '32', '--lfw_nrof_folds', '30']
    if problem == 'one_fold':
        argv['extra'] = ['--image_size', '32', '--lfw_nrof_folds', '1']
    if problem == 'plot':
        argv['extra'] += ['--roc_plot', str(tmp_path / 'roc.xyz')]
    code, out, err = _run([argv['lfw_dir'], argv['model'], '--lfw_pairs', argv['pairs']]
                          + argv['extra'], capsys)
    assert code == 1
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / 'roc.xyz')


# -- a published model on the reference faces ------------------------------------------------

@pytest.fixture(scope='module')
def aligned_faces(tmp_path_factory):
    """The 16 aligned LFW faces of the forward-pass reference (8 people x 2) as PNG files,
    and a pairs file: each person's two images, and image 1 against the next person's image 2."""
    reference = np.load(shared_path('reference', 'inception_resnet_v1_forward.npz'))
    root = tmp_path_factory.mktemp('aligned')
    paths = []
    for image, relative in zip(reference['images'], reference['paths']):
        path = root / 'lfw' / str(relative)
        os.makedirs(path.parent, exist_ok=True)
        Image.fromarray(image).save(path)
        paths.append(str(path))
    names = sorted(os.listdir(root / 'lfw'))
    lines = ['2\t8']
    for k, name in enumerate(names):
        lines.append('%s\t1\t2' % name)
        lines.append('%s\t1\t%s\t2' % (name, names[(k + 1) % len(names)]))
    (root / 'pairs.txt').write_text('\n'.join(lines) + '\n')
    return paths, dict(reference), str(root / 'lfw'), str(root / 'pairs.txt')


def test_pretrained_model_embeddings_match_reference(model_128, aligned_faces):
    paths, reference, _, _ = aligned_faces
    with tf.Graph().as_default():
        with new_session() as sess:
            loading.load_model(model_128, session=sess)
            tensors = loading.get_model_tensors()
            prewhitened = path_embedder.embed_image_paths(sess, tensors, paths, 5, 160, flipped=True)
            fixed = path_embedder.embed_image_paths(sess, tensors, paths[:4], 16, 160,
                                               fixed_standardization=True)
    np.testing.assert_allclose(prewhitened[:, :128], reference['embeddings_prewhiten'], atol=2e-5)
    np.testing.assert_allclose(fixed, reference['embeddings_fixed_standardization'][:4], atol=2e-5)
    # The mirror image is a different input but the same face.
    cosine = np.sum(prewhitened[:, :128] * prewhitened[:, 128:], axis=1)
    assert np.all(cosine > 0.8)


def test_pretrained_model_separates_the_reference_faces(model_128, aligned_faces, capsys):
    _, _, lfw_dir, pairs = aligned_faces
    code, out, err = _run([lfw_dir, model_128, '--lfw_pairs', pairs, '--lfw_nrof_folds', '2',
                           '--lfw_batch_size', '10', '--use_flipped_images',
                           '--distance_metric', '1', '--subtract_mean'], capsys)
    assert code == 0, err
    # 8 pairs per fold: one threshold learnt on the other fold may misplace a pair.
    accuracy = float(re.search(r'^Accuracy: (\d\.\d{5})\+-', out, re.M).group(1))
    assert accuracy >= 0.875
    assert 'Area Under Curve (AUC): 1.000\n' in out
