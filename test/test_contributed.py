"""The contributed tools on real LFW faces with the pretrained 128-d model: the face API,
predict, export_embeddings, batch_represent, cluster, clustering and real-time recognition."""
import os
import re
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

import batch_represent
import cluster
import clustering
import export_embeddings
import face
import lfw_faces
import predict
import real_time_face_recognition
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.recognition import clustering as clustering_lib
from toolkit.recognition import identification
from toolkit.recognition.faces import Face

DISTANCE_THRESHOLD = '1.1'


def blank_image(path, size=120):
    Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(path)
    return str(path)


# -- pure helpers ---------------------------------------------------------------------------------

def test_chinese_whispers_finds_the_linked_groups():
    rng = np.random.RandomState(3)
    centres = np.eye(8)[:3]
    embeddings = np.concatenate([centre + 0.05 * rng.randn(n, 8)
                                 for centre, n in zip(centres, (5, 3, 1))])
    labels = clustering_lib.chinese_whispers(embeddings, 0.5, rng=np.random.RandomState(0))
    assert labels.tolist() == [0] * 5 + [1] * 3 + [2]
    assert clustering_lib.clusters_by_size([1, -1, 0, 1]) == [[0, 3], [2]]


def test_identifier_names_nearest_added_person_or_unknown():
    identifier = face.Identifier(distance_threshold=0.5)
    identifier.add('A', [1.0, 0.0])
    identifier.add('B', [0.0, 1.0])
    probe = face.Face(None, None, None, None)
    probe.embedding = np.array([0.9, 0.1])
    assert identifier.identify(probe) == 'A' and probe.distance < 0.2
    probe.embedding = np.array([0.7, 0.7])
    assert identifier.identify(probe) == 'Unknown'
    with pytest.raises(FacenetError, match='knows nobody'):
        face.Identifier().identify(probe)


def test_export_embeddings_boolean_flag():
    parse = export_embeddings.parse_arguments
    assert parse(['m', 'd', '--is_aligned', 'False']).is_aligned is False
    assert parse(['m', 'd']).is_aligned is True
    with pytest.raises(SystemExit):
        parse(['m', 'd', '--is_aligned', 'maybe'])


# -- scripts on real faces ------------------------------------------------------------------------

@pytest.fixture(scope='module')
def represented(model_128_graph, tmp_path_factory):
    """Output folder of batch_represent on aligned faces of 4 people (8 images each)."""
    known_dir, _ = lfw_faces.aligned_lfw()
    output = tmp_path_factory.mktemp('batch_represent')
    batch_represent.main(batch_represent.parse_arguments(
        ['-d', known_dir, '-o', str(output), '--trained_model_dir', model_128_graph]))
    return output


def test_batch_represent_writes_signatures_and_gallery(represented):
    signatures = np.load(str(represented / 'signatures.npy'))
    gallery = np.load(str(represented / 'gallery.npy'))
    names = np.load(str(represented / 'gallery_names.npy'))
    assert signatures.shape == (32, 128) and gallery.tolist() == sorted(list(range(4)) * 8)
    assert names.tolist() == list(lfw_faces.KNOWN_PEOPLE)
    np.testing.assert_allclose(np.linalg.norm(signatures, axis=1), 1.0, atol=1e-4)


def test_predict_names_known_people_and_rejects_a_stranger(represented, model_128_graph, tmp_path,
                                                           capsys):
    model = identification.train_svc(np.load(str(represented / 'signatures.npy')),
                                     np.load(str(represented / 'gallery.npy')))
    pkl = str(tmp_path / 'svm.pkl')
    identification.save_classifier(pkl, model, [identification.display_name(name) for name in
                                                lfw_faces.KNOWN_PEOPLE])
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8 not really a jpeg')
    images = [lfw_faces.raw_lfw_image('Tony_Blair', 10), str(bad),
              blank_image(tmp_path / 'blank.png'),
              lfw_faces.raw_lfw_image('Serena_Williams', 10),
              lfw_faces.raw_lfw_image(lfw_faces.UNKNOWN_PERSON, 10)]
    with pytest.raises(FacenetError, match='1 of the 5 images could not be read'):
        predict.main(predict.parse_arguments(
            images + [model_128_graph, pkl, '--distance_threshold', DISTANCE_THRESHOLD]))
    out = capsys.readouterr().out
    blocks = out.split('people in image ')[1:]
    assert [block.splitlines()[0] for block in blocks] == ['%s :' % path for path in images]
    assert blocks[0].splitlines()[1].startswith('Tony Blair: ')
    assert blocks[1].splitlines()[1].startswith('error: cannot read image %s' % bad)
    assert blocks[2].splitlines()[1] == 'no face found'
    assert blocks[3].splitlines()[1].startswith('Serena Williams: ')
    unknown = re.match(r'^Unknown: (\d\.\d{3}) \((.+) rejected: distance (\d\.\d{3}) > '
                       r'(\d\.\d{3})\)$', blocks[4].splitlines()[1])
    assert unknown, blocks[4]
    known = [identification.display_name(name) for name in lfw_faces.KNOWN_PEOPLE]
    assert 0.0 < float(unknown.group(1)) <= 1.0 and unknown.group(2) in known
    assert float(unknown.group(3)) > float(unknown.group(4)) == float(DISTANCE_THRESHOLD)


def test_predict_describes_why_a_face_is_unknown():
    face = Face(None, None, None, None)
    face.name, face.best_name, face.probability, face.distance = 'Unknown', 'Ann', 0.41, 0.8
    assert predict.describe(face, 0.5, 1.1) == (
        'Unknown: 0.410 (Ann rejected: probability 0.410 < 0.500)')
    face.probability, face.distance = None, 1.3
    assert predict.describe(face, None, 1.1) == (
        'Unknown: distance 1.300 (Ann rejected: distance 1.300 > 1.100)')
    face.name = 'Ann'
    assert predict.describe(face, None, 1.5) == 'Ann: distance 1.300'


def test_export_embeddings_aligns_photos_and_skips_bad_ones(model_128_graph, tmp_path, capsys):
    photos = tmp_path / 'photos'
    for name in ('Tony_Blair', 'Colin_Powell'):
        (photos / name).mkdir(parents=True)
        for number in (1, 2):
            shutil.copy(lfw_faces.raw_lfw_image(name, number), photos / name)
    blank_image(photos / 'Colin_Powell' / 'blank.png')
    out_names = [str(tmp_path / name) for name in ('emb.npy', 'lab.npy', 'str.npy')]
    export_embeddings.main(export_embeddings.parse_arguments(
        [model_128_graph, str(photos), '--is_aligned', 'False', '--image_batch', '2',
         '--embeddings_name', out_names[0], '--labels_name', out_names[1],
         '--labels_strings_name', out_names[2]]))
    assert 'skipping %s: no face detected' % (photos / 'Colin_Powell' / 'blank.png') in \
        capsys.readouterr().out
    embeddings, labels, strings = [np.load(name) for name in out_names]
    assert embeddings.shape == (4, 128) and labels.tolist() == [0, 0, 1, 1]
    assert strings.tolist() == ['Colin_Powell'] * 2 + ['Tony_Blair'] * 2
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    assert max(distances[0, 1], distances[2, 3]) < 1.0 < distances[:2, 2:].min()


def test_cluster_groups_photos_by_person(model_128_graph, tmp_path, capsys):
    photos = tmp_path / 'photos'
    photos.mkdir()
    for name in ('Tony_Blair', 'Serena_Williams'):
        for number in (1, 2, 3):
            shutil.copy(lfw_faces.raw_lfw_image(name, number), photos)
    (photos / 'readme.txt').write_text('not an image')
    out_dir = tmp_path / 'clusters'
    cluster.main(cluster.parse_arguments([model_128_graph, str(photos), str(out_dir)]))
    out = capsys.readouterr().out
    assert 'No of clusters: 2' in out
    assert 'Cluster 0: [0, 1, 2]' in out and 'Cluster 1: [3, 4, 5]' in out
    assert sorted(os.listdir(out_dir)) == ['0', '1']
    saved = folders.read_rgb_image(str(out_dir / '1' / '1.png'))
    assert saved.shape == (160, 160, 3) and saved.std() > 20


def test_clustering_copies_each_person_to_one_folder(model_128_graph, tmp_path):
    known_dir, unknown_dir = lfw_faces.aligned_lfw()
    faces_dir = tmp_path / 'faces'
    faces_dir.mkdir()
    for folder in (os.path.join(known_dir, 'Tony_Blair'),
                   os.path.join(known_dir, 'Serena_Williams'),
                   os.path.join(unknown_dir, lfw_faces.UNKNOWN_PERSON)):
        for name in sorted(os.listdir(folder))[:4]:
            shutil.copy(os.path.join(folder, name), faces_dir)
    out_dir = tmp_path / 'groups'
    clustering.main(clustering.parse_arguments(
        ['--model_dir', model_128_graph, '--input', str(faces_dir), '--output', str(out_dir)]))
    groups = sorted(sorted({name.rsplit('_', 1)[0] for name in os.listdir(out_dir / cluster_dir)})
                    for cluster_dir in os.listdir(out_dir))
    assert groups == [['Serena_Williams'], ['Tony_Blair'], [lfw_faces.UNKNOWN_PERSON]]
    assert sum(len(os.listdir(out_dir / d)) for d in os.listdir(out_dir)) == 12


def test_clustering_needs_two_images(tmp_path):
    with pytest.raises(FacenetError, match='at least two images'):
        clustering.main(clustering.parse_arguments(
            ['--model_dir', 'm', '--input', str(tmp_path), '--output', str(tmp_path / 'o')]))


# -- real-time recognition on a video file --------------------------------------------------------

def write_video(path, frames, fps=10):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_real_time_recognition_writes_an_annotated_video(model_128_graph, tmp_path, capsys):
    blair = folders.read_rgb_image(lfw_faces.raw_lfw_image('Tony_Blair', 10))
    stranger = folders.read_rgb_image(lfw_faces.raw_lfw_image(lfw_faces.UNKNOWN_PERSON, 10))
    video = tmp_path / 'clip.avi'
    write_video(video, [blair] * 3 + [stranger] * 3)
    identities = tmp_path / 'people' / 'Tony_Blair'
    identities.mkdir(parents=True)
    for number in (1, 2):
        shutil.copy(lfw_faces.raw_lfw_image('Tony_Blair', number), identities)
    output = tmp_path / 'annotated.avi'
    real_time_face_recognition.main(real_time_face_recognition.parse_arguments(
        ['--model', model_128_graph, '--identities_dir', str(identities.parent),
         '--video', str(video), '--output', str(output),
         '--distance_threshold', DISTANCE_THRESHOLD, '--debug']))
    out = capsys.readouterr().out
    assert out.count('Added Tony Blair from') == 2
    lines = [line for line in out.splitlines() if line.startswith('frame ')]
    assert len(lines) == 2
    assert lines[0].startswith('frame 0: Tony Blair at [')
    assert lines[1].startswith('frame 3: Unknown at [')
    assert 'Wrote 6 annotated frames to %s' % output in out
    annotated, original = read_video(output), read_video(video)
    assert len(annotated) == 6 and annotated[0].shape == (250, 250, 3)
    # The green box and labels are drawn: pure green pixels appear that the input lacks.
    def green(frame):
        return np.sum((frame[:, :, 1] > 200) & (frame[:, :, 0] < 80) & (frame[:, :, 2] < 80))
    assert green(annotated[0]) > 300 > green(original[0])


def test_real_time_without_gui_asks_for_output(tmp_path):
    video = tmp_path / 'clip.avi'
    write_video(video, [np.zeros((64, 64, 3), np.uint8)] * 2)
    args = real_time_face_recognition.parse_arguments(['--video', str(video)])
    try:
        real_time_face_recognition.require_gui()
    except FacenetError:
        with pytest.raises(FacenetError, match='use --output annotated.avi'):
            real_time_face_recognition.main(args)
    else:  # pragma: no cover - a desktop OpenCV build
        cv2.destroyAllWindows()
        pytest.skip('this OpenCV can open windows')
    with pytest.raises(FacenetError, match='video file not found'):
        real_time_face_recognition.main(real_time_face_recognition.parse_arguments(
            ['--video', str(tmp_path / 'missing.avi'), '--output', str(tmp_path / 'o.avi')]))
