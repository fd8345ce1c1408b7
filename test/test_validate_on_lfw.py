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
    assert progress == [(7, 18), (14, 18), (18, 18)]  # images through the network
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
    assert progress == [(4, 12), (8, 12), (12, 12)]  # 6 distinct images and their mirrors


def test_embedder_names_an_unreadable_image(identity_session, tiny_lfw, tmp_path):
    sess, tensors = identity_session
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG not really')
    paths = _images(tiny_lfw)[:4] + [str(broken)]
    with pytest.raises(FacenetError, match='broken.png'):
        path_embedder.embed_image_paths(sess, tensors, paths, 2, CROP)


# -- the ROC plot --------------------------------------------------------------------------------

def _read_plot(figure, path):
    """The saved plot's pixels and a function from (FAR, TAR) to its (row, column)."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert('RGB')).astype(int)
    width, height = figure.canvas.get_width_height()
    assert pixels.shape == (height, width, 3)
    axes = figure.axes[0]

    def pixel(far, tar):
        x, y = axes.transData.transform((far, tar))
        return int(round(height - y)), int(round(x))
    return pixels, pixel


def _colour_mask(pixels, line):
    from matplotlib.colors import to_rgb
    return np.all(np.abs(pixels - 255 * np.array(to_rgb(line.get_color()))) < 40, axis=2)


def test_roc_plot_has_a_log_far_axis_and_marks_val_and_eer(tmp_path):
    path = str(tmp_path / 'roc.png')
    # A curve whose true accept rate grows by 0.1 per decade of FAR: 0.6 at 1e-4 ... 1.0 at 1.
    fpr = np.concatenate([[0.0], np.logspace(-5, 0, 101)])
    tpr = np.clip(1.0 + 0.1 * np.log10(np.maximum(fpr, 1e-5)), 0, 1)
    # The markers sit off the curve here, so that they can be told apart from it.
    curve = plotting.RocCurve('model', fpr, tpr, val=0.75, eer=0.2)
    figure = plotting.roc_curve_figure([curve], 'one model')
    plotting.save_figure(figure, path)
    axes = figure.axes[0]
    assert axes.get_xscale() == 'log' and axes.get_yscale() == 'linear'
    assert axes.get_xlim() == pytest.approx((1e-4, 1.0))
    assert axes.get_xlabel() == 'False accept rate' and axes.get_ylabel() == 'True accept rate'
    pixels, pixel = _read_plot(figure, path)
    roc_line = axes.get_lines()[0]
    curve_pixels = _colour_mask(pixels, roc_line)
    # On a log axis each decade takes the same width: the curve is a straight line there.
    columns = [pixel(far, 0.5)[1] for far in (1e-4, 1e-3, 1e-2, 1e-1)]
    assert np.ptp(np.diff(columns)) <= 1
    for far in (2e-4, 1e-3, 1e-2, 0.3):
        row, column = pixel(far, 1.0 + 0.1 * np.log10(far))
        assert curve_pixels[row - 2:row + 3, column - 2:column + 3].any(), far
    for far, tar in ((1e-3, 0.95), (1e-2, 0.7), (0.1, 0.98)):
        row, column = pixel(far, tar)
        assert not curve_pixels[row - 3:row + 4, column - 3:column + 4].any()
    # The VAL@FAR=1e-3 dot and the EER square (open) are drawn in the curve's colour.
    row, column = pixel(1e-3, 0.75)
    assert curve_pixels[row - 2:row + 3, column - 2:column + 3].all()
    row, column = pixel(0.2, 0.8)
    square = curve_pixels[row - 6:row + 7, column - 6:column + 7]
    assert square[[0, 1, -2, -1], 3:-3].any(axis=0).all()  # top and bottom edges
    assert square[3:-3, [0, 1, -2, -1]].any(axis=1).all()  # left and right edges
    assert not square[4:-4, 4:-4].any()  # open inside
    assert roc_line.get_label() == 'model (VAL 0.750 @ FAR=0.001, EER 0.200)'
    assert os.listdir(tmp_path) == ['roc.png']


def test_roc_plot_draws_several_models(tmp_path):
    path = str(tmp_path / 'roc.png')
    far = np.logspace(-4, 0, 81)
    good = plotting.RocCurve('good', far, np.minimum(1.0, 0.97 + 0.03 * (np.log10(far) + 4) / 4),
                             0.98, 0.01)
    weak = plotting.RocCurve('weak', far, 0.5 + 0.5 * (np.log10(far) + 4) / 4, 0.625, 0.3)
    figure = plotting.roc_curve_figure([good, weak], 'two models')
    plotting.save_figure(figure, path)
    pixels, pixel = _read_plot(figure, path)
    lines = {line.get_label().split()[0]: line for line in figure.axes[0].get_lines()}
    good_line, weak_line = lines['good'], lines['weak']
    assert good_line.get_color() != weak_line.get_color()
    assert figure.axes[0].get_ylim()[0] == pytest.approx(0.5)  # the lowest visible TAR
    for line, tar_of in ((good_line, lambda f: 0.97 + 0.03 * (np.log10(f) + 4) / 4),
                         (weak_line, lambda f: 0.5 + 0.5 * (np.log10(f) + 4) / 4)):
        mask = _colour_mask(pixels, line)
        for f in (3e-4, 1e-2, 3e-1):
            row, column = pixel(f, tar_of(f))
            assert mask[row - 2:row + 3, column - 2:column + 3].any()
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[:2] == ['good (VAL 0.980 @ FAR=0.001, EER 0.010)',
                          'weak (VAL 0.625 @ FAR=0.001, EER 0.300)']


def test_roc_plot_keeps_the_curves_in_view_when_val_was_not_measurable(tmp_path):
    """A small pairs file cannot measure FAR 1e-3 (VAL about 0): the TAR axis still follows
    the curve, and the VAL mark sits on the lower edge as a triangle."""
    far = np.logspace(-2.5, 0, 40)
    curve = plotting.RocCurve('small', far, 0.98 + 0.02 * (np.log10(far) + 2.5) / 2.5, 0.003,
                              0.01)
    figure = plotting.roc_curve_figure([curve])
    axes = figure.axes[0]
    assert axes.get_ylim()[0] == pytest.approx(0.9)
    marks = [line for line in axes.get_lines() if line.get_marker() == 'v']
    assert len(marks) == 1 and list(marks[0].get_xydata()[0]) == pytest.approx([1e-3, 0.9])


@pytest.mark.parametrize('extension, signature', [
    ('.pdf', b'%PDF'), ('.svg', b'<?xml'), ('.jpg', b'\xff\xd8\xff')])
def test_roc_plot_format_follows_the_extension(tmp_path, extension, signature):
    path = tmp_path / ('roc' + extension)
    plotting.write_roc_curve(str(path), plotting.RocCurve('m', [0.0, 0.1, 1.0], [0.0, 0.9, 1.0]))
    assert path.read_bytes().startswith(signature)


def test_roc_plot_rejects_unknown_extension(tmp_path):
    with pytest.raises(FacenetError, match='cannot write a plot as ".txt"'):
        plotting.write_roc_curve(str(tmp_path / 'roc.txt'), plotting.RocCurve('m', [0, 1], [0, 1]))
    assert os.listdir(tmp_path) == []


# -- the script --------------------------------------------------------------------------------

# With only 8 different-person pairs per training fold no threshold has a FAR near 1e-3, so
# the classic interpolation lands near threshold 0 and the validation rate is 0.
EXPECTED_TINY = """Number of pairs: 20 (10 same person, 10 different people) in 5 folds
Runnning forward pass on LFW images
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


def test_compare_results_draws_earlier_runs_on_one_plot(models, tiny_lfw, tmp_path, capsys,
                                                        monkeypatch):
    lfw_dir, pairs = tiny_lfw
    common = [lfw_dir, '--lfw_pairs', pairs, '--image_size', '32', '--lfw_nrof_folds', '5']
    earlier = tmp_path / 'identity.json'
    code, _, err = _run(common[:1] + [models['identity']] + common[1:]
                        + ['--results', str(earlier)], capsys)
    assert code == 0, err
    drawn = []

    def spy(curves, *args):
        drawn.extend(curves)
        return roc_curve_figure(curves, *args)
    roc_curve_figure = plotting.roc_curve_figure
    monkeypatch.setattr(plotting, 'roc_curve_figure', spy)
    plot = tmp_path / 'both.png'
    code, out, err = _run(common[:1] + [models['pooled']] + common[1:]
                          + ['--roc_plot', str(plot), '--compare_results', str(earlier)], capsys)
    assert code == 0, err
    assert [curve.label for curve in drawn] == ['pooled', 'identity']
    saved = json.loads(earlier.read_text())
    np.testing.assert_array_equal(drawn[1].fpr, saved['roc']['fpr'])
    np.testing.assert_array_equal(drawn[1].tpr, saved['roc']['tpr'])
    assert (drawn[1].val, drawn[1].eer) == (saved['val'], saved['eer'])
    with Image.open(plot) as image:
        assert image.format == 'PNG'


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


def test_folds_without_one_kind_of_pair_are_warned_about(models, tiny_lfw, tmp_path, capsys):
    lfw_dir, pairs = tiny_lfw
    lines = open(pairs).read().splitlines()
    same = [line for line in lines[1:] if len(line.split()) == 3]
    different = [line for line in lines[1:] if len(line.split()) == 4]
    ordered = tmp_path / 'pairs.txt'  # all same-person pairs first: folds 1-2 and 4-5 are one-sided
    ordered.write_text('\n'.join(lines[:1] + same + different) + '\n')
    code, out, err = _run([lfw_dir, models['pooled'], '--lfw_pairs', str(ordered),
                           '--image_size', '32', '--lfw_nrof_folds', '5'], capsys)
    assert code == 0, err
    assert out.startswith('Number of pairs: 20 (10 same person, 10 different people) in 5 folds\n')
    warnings = [line for line in out.splitlines() if line.startswith('warning: fold')]
    assert warnings == [
        'warning: fold %d of 5 has no %s pair: its %s rate counts as 0, so the ROC curve, AUC '
        'and EER are not meaningful' % (fold, kind, rate)
        for fold, kind, rate in [(1, 'different-person', 'false positive'),
                                 (2, 'different-person', 'false positive'),
                                 (4, 'same-person', 'true positive'),
                                 (5, 'same-person', 'true positive')]]
    assert out.index(warnings[-1]) < out.index('Runnning forward pass')  # before the long part
    assert out.rstrip().splitlines()[-1] == (
        'warning: 4 of the 5 folds lack same-person or different-person pairs (see above): AUC '
        'and EER are not meaningful')
    # The interleaved file has both kinds in every fold: no warning.
    code, out, err = _run([lfw_dir, models['pooled'], '--lfw_pairs', pairs, '--image_size', '32',
                           '--lfw_nrof_folds', '5'], capsys)
    assert code == 0 and 'warning' not in out + err


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
    ('compare', 'is not a validate_on_lfw.py --results file (no ROC curve in it)'),
    ('compare_missing', 'error: results file not found: '),
    ('compare_without_plot', 'error: --compare_results needs --roc_plot'),
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
    if problem.startswith('compare'):
        (tmp_path / 'other.json').write_text('{"accuracy_mean": 0.9}')
        argv['extra'] += ['--compare_results', str(tmp_path / (
            'absent.json' if problem == 'compare_missing' else 'other.json'))]
        if problem != 'compare_without_plot':
            argv['extra'] += ['--roc_plot', str(tmp_path / 'roc.png')]
    code, out, err = _run([argv['lfw_dir'], argv['model'], '--lfw_pairs', argv['pairs']]
                          + argv['extra'], capsys)
    assert code == 1
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / 'roc.xyz') and not os.path.exists(tmp_path / 'roc.png')


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


def test_the_512_model_is_fed_as_its_metadata_says(model_512, aligned_faces, tmp_path, capsys):
    """Without --use_fixed_image_standardization the 512-d model still gets fixed
    standardization: its facenet_model.json says so."""
    _, _, lfw_dir, pairs = aligned_faces
    results = tmp_path / 'results.json'
    code, out, err = _run([lfw_dir, model_512, '--lfw_pairs', pairs, '--lfw_nrof_folds', '2',
                           '--lfw_batch_size', '16', '--distance_metric', '1',
                           '--results', str(results)], capsys)
    assert code == 0, err
    assert 'warning' not in err
    assert json.loads(results.read_text())['settings']['use_fixed_image_standardization'] is True
    assert 'Area Under Curve (AUC): 1.000\n' in out
