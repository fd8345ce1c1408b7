"""`kill -9` at random moments (seeded), then resume: the aligner keeps every image exactly
once with valid PNGs and one bounding-box line each, and a training run killed while it saves
leaves only checkpoints that restore, its temporary files removed by the next run.

A few trials here; tmp/stress_kill.py runs many more (the README gives its figures).
"""
import importlib.util
import os
import random

from conftest import ROOT, shared_path


def _stress_kill():
    spec = importlib.util.spec_from_file_location('tmp_stress_kill',
                                                  os.path.join(ROOT, 'tmp', 'stress_kill.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aligner_killed_at_random_moments_resumes_exactly_once(tmp_path):
    stress = _stress_kill()
    input_dir = stress.copy_images(shared_path('data', 'lfw', 'images_deepfunneled'),
                                   str(tmp_path / 'raw'), 40)
    report = stress.align_kill_trials(input_dir, str(tmp_path / 'aligned'), nrof_trials=2,
                                      rng=random.Random(1), max_delay=0.5, nrof_processes=2)
    assert report.problems == []
    # Every kill came while its process was aligning (one may have finished all by itself).
    assert report.kills == report.while_working >= 1, report


def test_training_killed_while_saving_leaves_restorable_checkpoints(tmp_path):
    stress = _stress_kill()
    data_dir = stress.make_training_folder(str(tmp_path / 'data'))
    report = stress.train_kill_trials(data_dir, str(tmp_path / 'train'), nrof_trials=1,
                                      rng=random.Random(0), max_delay=0.0, in_a_save=True)
    # Killed as soon as a save's temporary file was seen, with the save still under way.
    assert report.problems == [] and report.kills == report.while_working == 1, report
