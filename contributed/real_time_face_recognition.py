# coding=utf-8
"""Recognise faces in a webcam or video stream: boxes, names and the frame rate on each frame.

    python contributed/real_time_face_recognition.py [--debug]
    python contributed/real_time_face_recognition.py --video clip.mp4 --output annotated.avi \
        --model MODEL --classifier_filename my_classifier.pkl --distance_threshold 1.1

Without ``--output`` the annotated stream is shown in a window (press q to quit); that needs
an OpenCV build with GUI support and a display. With ``--output`` the annotated frames are
written to a video file instead (no window: works on servers and with
opencv-python-headless). Faces are found and named every ``--frame_interval`` frames.

Differences from the classic script: the model, classifier file, camera/video and thresholds
are flags (defaults: the classic ``model_checkpoints/20170512-110547`` and
``model_checkpoints/my_classifier_1.pkl`` next to ``contributed/``); people can also be
learnt from photos (``--identities_dir``, one folder of photos per person, or image files
named after the person); camera frames are converted from BGR to RGB before detection (the
classic script fed BGR); ``Unknown`` is shown for faces beyond the thresholds; ``--debug``
prints each analysed frame's faces (and, with a window, shows the face crops); the frame
rate is refreshed every second (every five in the classic script).
"""
import argparse
import os
import sys
import time

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)
REPO = os.path.dirname(SRC_DIR)

import cv2  # noqa: E402

from face import Recognition  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.fileio import atomic_path, check_writable  # noqa: E402

DEFAULT_MODEL = os.path.join(REPO, 'model_checkpoints', '20170512-110547')
DEFAULT_CLASSIFIER = os.path.join(REPO, 'model_checkpoints', 'my_classifier_1.pkl')
FPS_DISPLAY_INTERVAL = 1.0  # seconds
WINDOW_NAME = 'Video'
FOURCC_BY_EXTENSION = {'.avi': 'MJPG', '.mp4': 'mp4v', '.mkv': 'MJPG'}
GREEN = (0, 255, 0)


def main(args):
    if args.output:
        check_writable(args.output, '--output video')
    cli.resolve_standardization(args, args.model)
    capture = open_capture(args.video)
    try:
        if args.output:
            with atomic_path(args.output) as tmp_path:
                writer = open_writer(tmp_path, capture)
                try:
                    nrof_frames = run(args, capture, writer.write)
                finally:
                    writer.release()
            print('Wrote %d annotated frames to %s' % (nrof_frames, args.output))
        else:
            require_gui()
            try:
                run(args, capture, show_frame)
            finally:
                cv2.destroyAllWindows()
    finally:
        capture.release()


def run(args, capture, emit):
    """Read, recognise, annotate and emit frames until the stream ends (or q / max_frames)."""
    classifier = args.classifier_filename
    if classifier == DEFAULT_CLASSIFIER and not os.path.exists(classifier) and args.identities_dir:
        classifier = None
    with Recognition(args.model, classifier, args.probability_threshold,
                     args.distance_threshold, args.image_size, args.margin,
                     args.gpu_memory_fraction,
                     args.use_fixed_image_standardization) as recognition:
        if args.identities_dir:
            add_identities(recognition, args.identities_dir)
        if args.debug:
            print('Debug enabled')
        meter = FrameRate()
        found, frame_count = [], 0
        while args.max_frames is None or frame_count < args.max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if frame_count % args.frame_interval == 0:
                found = recognition.identify(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if args.debug:
                    print_faces(frame_count, found, show_crops=emit is show_frame)
            add_overlays(frame, found, meter.tick())
            if emit(frame) is False:
                break
            frame_count += 1
    print('Processed %d frames at %.1f frames per second' % (frame_count, meter.average()))
    return frame_count


class FrameRate:
    """Frames per second, refreshed every FPS_DISPLAY_INTERVAL seconds."""

    def __init__(self):
        self.start = self.window_start = time.time()
        self.frames = self.window_frames = 0
        self.rate = 0

    def tick(self):
        self.frames += 1
        self.window_frames += 1
        elapsed = time.time() - self.window_start
        if elapsed > FPS_DISPLAY_INTERVAL:
            self.rate = int(self.window_frames / elapsed)
            self.window_start, self.window_frames = time.time(), 0
        return self.rate

    def average(self):
        return self.frames / max(time.time() - self.start, 1e-6)


def add_identities(recognition, folder):
    """Learn everyone in ``folder``: ``<person>/<photo>`` or ``<person>.jpg``."""
    if not os.path.isdir(folder):
        raise FacenetError('identities folder not found: %s' % folder)
    photos = [(os.path.splitext(os.path.basename(path))[0], path)
              for path in folders.get_image_paths(folder)]
    for image_class in folders.get_dataset(folder):
        photos += [(image_class.name, path) for path in image_class.image_paths]
    for name, path in photos:
        try:
            recognition.add_identity(folders.read_rgb_image(path), name.replace('_', ' '))
            print('Added %s from %s' % (name.replace('_', ' '), path))
        except FacenetError as error:
            print('skipping %s: %s' % (path, error))


def print_faces(frame_number, found, show_crops):
    names = ', '.join('%s at %s' % (face.name, face.bounding_box.tolist()) for face in found)
    print('frame %d: %s' % (frame_number, names or 'no face'))
    if show_crops:
        for i, face in enumerate(found):
            cv2.imshow('Face: %d' % i, cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR))


def add_overlays(frame, found, frame_rate):
    """Draw each face's box and name, and the frame rate, on a BGR frame (in place)."""
    for face in found:
        x1, y1, x2, y2 = [int(value) for value in face.bounding_box]
        cv2.rectangle(frame, (x1, y1), (x2, y2), GREEN, 2)
        if face.name is not None:
            cv2.putText(frame, face.name, (x1, y2), cv2.FONT_HERSHEY_SIMPLEX, 1, GREEN,
                        thickness=2, lineType=2)
    cv2.putText(frame, '%d fps' % frame_rate, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, GREEN,
                thickness=2, lineType=2)


def open_capture(video):
    """A cv2.VideoCapture of a camera index ('0') or a video file."""
    source = int(video) if video.isdigit() else video
    if not isinstance(source, int) and not os.path.isfile(source):
        raise FacenetError('video file not found: %s' % video)
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise FacenetError('cannot open %s %s' % ('camera' if isinstance(source, int)
                                                  else 'video', video))
    return capture


def open_writer(path, capture):
    """A VideoWriter matching the capture's frame size and rate (codec from the extension)."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FOURCC_BY_EXTENSION:
        raise FacenetError('--output must end in %s' % ', '.join(sorted(FOURCC_BY_EXTENSION)))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*FOURCC_BY_EXTENSION[extension]),
                             fps, (width, height))
    if not writer.isOpened():
        raise FacenetError('cannot write video %s' % path)
    return writer


def require_gui():
    """FacenetError unless OpenCV can open windows here."""
    try:
        cv2.namedWindow(WINDOW_NAME)
    except cv2.error:
        raise FacenetError('this OpenCV has no window support (opencv-python-headless, or no '
                           'display): use --output annotated.avi to write the annotated video '
                           'instead') from None


def show_frame(frame):
    """Show a frame; False when the user pressed q."""
    cv2.imshow(WINDOW_NAME, frame)
    return (cv2.waitKey(1) & 0xFF) != ord('q')


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[1],
        parents=[arguments.image_size_args(160), arguments.margin_args(32),
                 arguments.gpu_args(), arguments.standardization_args()])
    parser.add_argument('--debug', action='store_true', help='Enable some debug outputs.')
    parser.add_argument('--model', type=str, default=DEFAULT_MODEL,
                        help='FaceNet model folder or .pb file.')
    parser.add_argument('--classifier_filename', type=str, default=DEFAULT_CLASSIFIER,
                        help='Classifier file from classifier.py TRAIN.')
    parser.add_argument('--identities_dir', type=str,
                        help='Photos of people to recognise: one folder per person, or image '
                             'files named after the person.')
    parser.add_argument('--video', type=str, default='0',
                        help='Camera index or video file.')
    parser.add_argument('--output', type=str,
                        help='Write the annotated video here (.avi or .mp4) instead of '
                             'showing a window.')
    parser.add_argument('--max_frames', type=arguments.positive_int,
                        help='Stop after this many frames.')
    parser.add_argument('--frame_interval', type=arguments.positive_int, default=3,
                        help='Find and name faces every this many frames.')
    arguments.add_unknown_thresholds(parser)
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
