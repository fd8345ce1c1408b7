"""Model metadata files: how a model wants its input, and how every script defaults from it."""
import json
import os

import pytest

from toolkit.errors import FacenetError
from toolkit.modelfiles import metadata


def test_write_then_read_for_a_folder_a_pb_and_a_checkpoint_prefix(tmp_path):
    model_dir = tmp_path / 'model'
    path = metadata.write_model_metadata(str(model_dir), 'fixed', 512)
    assert path == str(model_dir / 'facenet_model.json')
    assert json.loads(open(path).read()) == {
        'format_version': 1, 'input_standardization': 'fixed', 'embedding_size': 512}
    assert os.listdir(model_dir) == ['facenet_model.json']  # no temporary file left
    for model in (model_dir, model_dir / 'model.pb', model_dir / 'model-x.ckpt-90'):
        assert metadata.read_model_metadata(str(model)) == (
            metadata.ModelMetadata('fixed', 512, path))
    assert metadata.read_model_metadata(str(tmp_path / 'elsewhere.pb')) is None
    with pytest.raises(ValueError):
        metadata.write_model_metadata(str(model_dir), 'mean', 128)


@pytest.mark.parametrize('content, message', [
    ('{"input_standardization": "fixed"', 'cannot read model metadata'),
    ('[1, 2]', 'is not a JSON object'),
    ('{"input_standardization": "mean", "embedding_size": 128}',
     'input_standardization must be "prewhiten" or "fixed", got "mean"'),
    ('{"input_standardization": "fixed", "embedding_size": "512"}',
     'embedding_size must be a positive integer, got "512"'),
    ('{"input_standardization": "fixed", "embedding_size": true}',
     'embedding_size must be a positive integer'),
])
def test_a_malformed_file_is_a_one_line_error(tmp_path, content, message):
    (tmp_path / 'facenet_model.json').write_text(content)
    with pytest.raises(FacenetError, match=message) as error:
        metadata.read_model_metadata(str(tmp_path))
    assert '\n' not in str(error.value)


def test_the_flag_wins_with_a_warning_else_the_file_else_prewhitening(tmp_path):
    fixed_dir, plain_dir = str(tmp_path / 'fixed'), str(tmp_path / 'plain')
    metadata.write_model_metadata(fixed_dir, 'fixed', 512)
    metadata.write_model_metadata(plain_dir, 'prewhiten', 128)
    warnings = []

    def decide(model, flag):
        return metadata.fixed_standardization(model, flag, warnings.append)
    assert decide(fixed_dir, None) is True
    assert decide(plain_dir, None) is False
    assert decide(str(tmp_path / 'none'), None) is False  # no metadata: as the classic scripts
    assert decide(str(tmp_path / 'none'), True) is True
    assert decide(fixed_dir, True) is True and decide(plain_dir, False) is False
    assert warnings == []
    assert decide(plain_dir, True) is True
    assert decide(fixed_dir, False) is False
    assert warnings == [
        'warning: --use_fixed_image_standardization contradicts %s (the model expects '
        'per-image prewhitening); using the flag' % os.path.join(plain_dir, 'facenet_model.json'),
        'warning: --use_fixed_image_standardization False contradicts %s (the model expects '
        'fixed standardization ((x - 127.5) / 128)); using the flag'
        % os.path.join(fixed_dir, 'facenet_model.json')]


# -- the packaged models and the scripts ---------------------------------------------------------

def test_packaged_models_carry_their_metadata(model_128, model_512):
    assert metadata.read_model_metadata(model_128)[:2] == ('prewhiten', 128)
    assert metadata.read_model_metadata(model_512)[:2] == ('fixed', 512)
    pb_file = os.path.join(model_512, '20180408-102900.pb')
    assert metadata.read_model_metadata(pb_file)[:2] == ('fixed', 512)


@pytest.mark.parametrize('flag, expected, warned', [
    ([], [False, True], ''),
    (['--use_fixed_image_standardization'], [True, True], 'model_128'),
    (['--use_fixed_image_standardization', 'False'], [False, False], 'model_512'),
    (['--use_fixed_image_standardization', 'True'], [True, True], 'model_128'),
])
def test_scripts_default_from_the_metadata_and_warn_on_a_contradiction(
        model_128, model_512, capsys, flag, expected, warned):
    import compare
    from toolkit import cli
    models = {'model_128': model_128, 'model_512': model_512}
    results = []
    for name in ('model_128', 'model_512'):
        args = compare.parse_arguments([models[name], 'a.jpg'] + flag)
        assert args.use_fixed_image_standardization == (
            None if not flag else flag[-1] != 'False')
        results.append(cli.resolve_standardization(args, args.model))
        assert args.use_fixed_image_standardization is results[-1]
        err = capsys.readouterr().err
        if name == warned:
            assert err.startswith('warning: --use_fixed_image_standardization')
            assert os.path.join(models[name], 'facenet_model.json') in err
            assert len(err.splitlines()) == 1
        else:
            assert err == ''
    assert results == expected


SCRIPTS = ['src/compare.py', 'src/validate_on_lfw.py', 'src/classifier.py',
           'src/classifier_cos.py', 'src/calculate_filtering_metrics.py', 'src/train_softmax.py',
           'src/export_model.py',
           'contributed/batch_represent.py', 'contributed/cluster.py', 'contributed/clustering.py',
           'contributed/export_embeddings.py', 'contributed/predict.py',
           'contributed/real_time_face_recognition.py', 'tmp/test_invariance_on_lfw.py']


def test_every_script_with_the_flag_resolves_it_from_the_model():
    """A script declaring --use_fixed_image_standardization decides it with the model's
    metadata (cli.resolve_standardization), so that no script silently prewhitens."""
    from conftest import ROOT
    declaring = []
    for folder in ('src', 'contributed', 'tmp', os.path.join('src', 'generative')):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            path = os.path.join(folder, name)
            if name.endswith('.py') and not name.startswith('bench_'):
                text = open(os.path.join(ROOT, path)).read()
                if 'standardization_args()' in text:
                    declaring.append(path)
                    assert 'cli.resolve_standardization(args, args.' in text, path
    assert sorted(declaring) == sorted(SCRIPTS)
