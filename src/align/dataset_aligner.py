"""Aligning a dataset folder: claim images, detect faces in batches, write the crops.

The library behind ``align_dataset_mtcnn.py``. For each image of ``input_dir/<class>/`` it
writes ``output_dir/<class>/<name>.png`` (``<name>_<i>.png`` per face when several faces are
kept) and one line per image to the process's bounding-box file, as the classic script did.

Images are claimed one by one (``align.claims``) so that any number of processes can work on
one output folder and a killed run resumes where it stopped; PNGs are written under a
temporary name and renamed, so a reader never sees half a file. Faces are detected
``batch_size`` images at a time with the detector's ``detect_batch``, by worker threads that
overlap one batch's network runs with another's box work and PNG writing, while reader
threads (``ImageReader``) decode the next images and resize their pyramids, from before the
detector is built on.
"""
import os
import random
import threading
import zlib
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import cv2
import numpy as np
from PIL import Image

from align import claims as claims_module
from align import detect_face, face_crop
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path

# zlib level 1 with the run-length strategy and every row Paeth-filtered (the filter libpng's
# search picks for nearly every row of a face crop): PNGs 2% larger than the classic ones
# (Pillow's level 6) and written about eight times faster; the pixels are the same.
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1,
               cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
               cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
# Images read ahead of the detector (decoded, with their P-Net pyramid): about 0.3 MB each
# for LFW's 250 x 250 images. 400 ahead rather than 128 keep the core that TensorFlow's
# start-up leaves idle busy for longer, though an image read into fresh memory then costs
# about 0.6 CPU ms more: 400 LFW images end to end 8.10 s against 8.25 s on average over six
# A/B pairs at load 2 (within the noise, 0.6 s). Large photos are read fewer at a time
# (READ_AHEAD_BYTES) and their pyramid is not made ahead.
READ_AHEAD = 400
READ_AHEAD_BYTES = 160 * 2 ** 20
PYRAMID_AHEAD_PIXELS = 1000000
BOUNDING_BOXES_PATTERN = 'bounding_boxes_%05d.txt'


class ImageJob:
    """One claimed image: where it comes from and where its crops go (``name``: see
    ``output_names``)."""

    def __init__(self, class_name, path, name, output_dir, claim):
        self.class_name = class_name
        self.path = path
        self.name = name
        self.class_dir = os.path.join(output_dir, class_name)
        self.claim = claim
        self.read = None  # the ImageReader's future, when it read the image ahead
        self.image = None
        self.levels = None  # P-Net's pyramid of the image, when computed ahead

    def output_path(self, face_index=None):
        """``<class>/<name>.png``, or ``<class>/<name>_<i>.png`` with a face index."""
        suffix = '' if face_index is None else '_%d' % face_index
        return os.path.join(self.class_dir, self.name + suffix + '.png')


def _without_line_breaks(text):
    return text.replace('\n', '_').replace('\r', '_')


def output_names(paths):
    """The output name (no extension) of each image path of one class: ``{path: name}``.

    The classic name is the image's base name. Images sharing one (``dup.jpg`` and
    ``dup.png``, which the classic script both wrote to ``dup.png``) get their extension
    appended (``dup_jpg``, ``dup_png``), and line breaks, which would split a bounding-box
    line, become ``_``. Only the paths decide, so every process gets the same names.
    """
    stems = {path: _without_line_breaks(os.path.splitext(os.path.basename(path))[0])
             for path in paths}
    counts = Counter(stems.values())
    names = {path: stem for path, stem in stems.items() if counts[stem] == 1}
    taken = set(names.values())
    for path in sorted(path for path in paths if path not in names):
        extension = _without_line_breaks(os.path.splitext(path)[1].lstrip('.'))
        name, number = '%s_%s' % (stems[path], extension), 2
        while name in taken:
            name, number = '%s_%s_%d' % (stems[path], extension, number), number + 1
        names[path] = name
        taken.add(name)
    return names


def classes_with_listable_names(dataset):
    """``(classes, skipped)``: class folders whose names hold a line break are skipped (their
    output paths would split the bounding-box lines)."""
    keep = [c for c in dataset if _without_line_breaks(c.name) == c.name]
    return keep, [c for c in dataset if _without_line_breaks(c.name) != c.name]


def renamed_outputs(work):
    """``(path, output name)`` of the work items whose output is not the classic name."""
    return [(path, name) for _, path, name in work
            if name != os.path.splitext(os.path.basename(path))[0]]


def list_images(dataset, random_order, rng=None):
    """``(class name, image path, output name)`` for every image (see ``output_names``),
    classes (and images) shuffled on request."""
    rng = rng or random.Random()
    classes = list(dataset)
    if random_order:
        rng.shuffle(classes)
    work = []
    for image_class in classes:
        names = output_names(image_class.image_paths)
        paths = list(image_class.image_paths)
        if random_order:
            rng.shuffle(paths)
        work.extend((image_class.name, path, names[path]) for path in paths)
    return work


def open_bounding_boxes_file(output_dir, rng=None):
    """Create this process's ``bounding_boxes_<5 random digits>.txt`` (never an existing one).

    Paths are written with the bytes of their file names, even names that are not UTF-8.
    """
    rng = rng or random.SystemRandom()
    while True:
        path = os.path.join(output_dir, BOUNDING_BOXES_PATTERN % rng.randint(0, 99999))
        try:
            return open(path, 'x', encoding='utf-8', errors='surrogateescape')
        except FileExistsError:
            continue


def bounding_boxes_written(output_dir, pending):
    """True when a killed process's pending bounding-box lines are complete in its file.

    ``pending`` is a claim's ``(file name, offset, length, crc32)``. A partial last line
    (the process died while appending) is cut off, so the file ends with whole lines.
    """
    file_name, offset, length, crc = pending
    try:
        with open(os.path.join(output_dir, os.path.basename(file_name)), 'r+b') as handle:
            handle.seek(offset)
            data = handle.read(length)
            if len(data) == length and zlib.crc32(data) == crc:
                return True
            size = os.fstat(handle.fileno()).st_size
            if offset < size < offset + length:
                handle.truncate(offset)
    except FileNotFoundError:
        pass
    return False


def faces_to_write(boxes, image_shape, detect_multiple_faces):
    """The detections to crop: all of them, or the classic main face only."""
    if len(boxes) > 1 and not detect_multiple_faces:
        return [boxes[face_crop.main_face_index(boxes, image_shape[0], image_shape[1])]]
    return list(boxes)


def save_png(path, image):
    """Write an RGB uint8 array as a PNG that appears at ``path`` only once complete.

    Encoded in memory and written by Python, so any file name works (OpenCV's own writer
    cannot open names that are not UTF-8) and a full disk is reported as such.

    Raises:
        FacenetError: the file cannot be written (disk full, no permission).
    """
    ok, encoded = cv2.imencode('.png', np.ascontiguousarray(image[:, :, ::-1]), PNG_OPTIONS)
    if not ok:
        raise FacenetError('cannot encode %s as PNG' % path)
    with atomic_path(path) as tmp_path:
        with open(tmp_path, 'wb') as handle:
            handle.write(encoded.data)


def aligned_by_classic_run(claims, output_dir, class_name, job_name, detect_multiple_faces):
    """True for an image done by a classic run (its PNG exists and it has no claim file)."""
    if os.path.exists(claims.claim_path(class_name, job_name)):
        return False
    first = '_0' if detect_multiple_faces else ''
    return os.path.exists(os.path.join(output_dir, class_name, job_name + first + '.png'))


def still_to_do(output_dir, detect_multiple_faces):
    """A function of a work triple: False for an image done earlier (its claim says done,
    or a classic run wrote it) or being aligned by another living process, so that an
    ``ImageReader`` does not read it for nothing."""
    claims = claims_module.ImageClaims(output_dir)

    def wanted(item):
        class_name, _, name = item
        try:
            free = claims.is_free(class_name, name)
        except OSError:  # a lock that cannot be probed: the claim will tell
            free = True
        return free and not aligned_by_classic_run(claims, output_dir, class_name, name,
                                                   detect_multiple_faces)
    return wanted


def work_left(work, output_dir, detect_multiple_faces):
    """True while an image of ``work`` is neither done nor being aligned by a living process
    (looked at in work order, so the answer comes at the first such image)."""
    wanted = still_to_do(output_dir, detect_multiple_faces)
    return any(wanted(item) for item in work)


def read_image_and_pyramid(path, pyramid_levels=None):
    """``(RGB uint8 image, its P-Net pyramid or None)`` of one image file; the pyramid only
    for images of at most ``PYRAMID_AHEAD_PIXELS`` (a large photo's pyramid is made in the
    detector, batch by batch, so that it is not held in memory meanwhile)."""
    image = folders.read_rgb_image(path)
    if pyramid_levels is None or image.shape[0] * image.shape[1] > PYRAMID_AHEAD_PIXELS:
        return image, None
    return image, pyramid_levels(image)


def _nbytes(result):
    image, levels = result
    return image.nbytes + sum(level.nbytes for level in (levels or {}).values())


def batch_size_near_the_end(batch_size, nrof_workers, left):
    """Images for the next batch when ``left`` images of the work list are left:
    ``batch_size`` while at least one batch per worker is left, then a share of what is
    left per worker, so that the workers' last batches end at about the same time (rather
    than one worker running a whole last batch while the others have nothing to do)."""
    if left >= batch_size * nrof_workers:
        return batch_size
    return max(1, -(-left // nrof_workers))


class ImageReader:
    """Reads the images of a work list ahead of the aligner, in threads.

    Decoding and the pyramid resizing (OpenCV and Pillow release the GIL) then overlap
    TensorFlow's start-up (build the reader before the detector) and the network runs.
    Reading takes no claim: an image another process claims meanwhile was read for
    nothing, a few milliseconds lost. Images ``wanted`` rejects (already aligned) are not
    read. At most ``ahead`` images, and about ``ahead_bytes`` of pixels (judged by the
    largest image read so far), are read and not yet taken. Use as a context manager
    (``close`` stops the threads).

    Args:
        work: ``list_images`` triples, in the order the aligner claims them.
        pyramid_levels: function of an image giving its P-Net pyramid
            (``align.detector.pyramid_levels``), or None to read only.
        wanted: function of a work triple, False for images not to read.
        nrof_threads: reader threads.
        ahead, ahead_bytes: how far to read ahead at most.
        process: an ``align.image_reader_process.ReaderProcess`` that reads the images
            (and makes their pyramids) instead of the threads; closed with the reader.
    """

    def __init__(self, work, pyramid_levels=None, wanted=None, nrof_threads=2,
                 ahead=READ_AHEAD, ahead_bytes=READ_AHEAD_BYTES, process=None):
        self._process = process
        self._work = iter(work)
        self._pyramid_levels = pyramid_levels
        self._wanted = wanted
        self._ahead = ahead
        self._ahead_bytes = ahead_bytes
        self._nrof_threads = nrof_threads
        self._largest = 0  # bytes of the largest image read so far, with its pyramid
        self._queue = deque()
        self._lock = threading.RLock()
        self._closed = False
        self._pool = ThreadPoolExecutor(nrof_threads, thread_name_prefix='image-reader')
        self._fill()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._process is not None:
            self._process.close()

    def read_ahead(self, images):
        """Read at most ``images`` ahead from now on; reads not yet started beyond them
        are dropped (the aligner reads those images itself when it gets there)."""
        with self._lock:
            self._ahead = images
            for _, read in list(self._queue)[images:]:
                read.cancel()

    def _is_wanted(self, item):
        return self._wanted is None or self._wanted(item)

    def _read(self, item):
        if not self._is_wanted(item):
            return None
        return read_image_and_pyramid(item[1], self._pyramid_levels)

    def _submit(self, item):
        """A future of ``_read(item)``: on a reader thread, or from the reader process."""
        if self._process is None:
            return self._pool.submit(self._read, item)
        if self._is_wanted(item):
            return self._process.submit(item[1])
        skipped = Future()
        skipped.set_result(None)
        return skipped

    def _limit(self):
        """Images to keep read (or being read) ahead: ``nrof_threads`` until one size is
        known, then as many as fit ``ahead_bytes``."""
        if self._process is not None:  # it keeps to ahead_bytes by itself
            return self._ahead
        if not self._largest:
            return min(self._ahead, self._nrof_threads)
        return max(1, min(self._ahead, self._ahead_bytes // self._largest))

    def _fill(self):
        with self._lock:
            while not self._closed and len(self._queue) < self._limit():
                item = next(self._work, None)
                if item is None:
                    return
                read = self._submit(item)
                self._queue.append((item, read))
                read.add_done_callback(self._read_done)

    def _read_done(self, read):
        if not read.cancelled() and read.exception() is None and read.result() is not None:
            with self._lock:
                self._largest = max(self._largest, _nbytes(read.result()))
        self._fill()  # a reader thread goes on reading ahead by itself

    def __iter__(self):
        """``(work triple, future)`` in work order; the future gives ``(image, levels)``,
        None for an image not read, or raises the read error."""
        while True:
            self._fill()
            with self._lock:
                if not self._queue:
                    return
                entry = self._queue.popleft()
            if self._process is not None:
                self._process.taken(entry[1])
            yield entry


class DatasetAligner:
    """Aligns the images of a dataset into an output folder, sharing the work with other
    processes through claims.

    Args:
        detector: an ``align.detector.FaceDetector`` (networks and detection settings).
        output_dir: where the class folders, claims and bounding-box file go.
        image_size, margin: crop size and total margin around the box (classic geometry).
        detect_multiple_faces: write every face (``_<i>`` suffixes) instead of the main one.
        batch_size: images per detector run.
        log: function taking one line of text (``print`` in the script).
        nrof_workers: threads processing batches at the same time.
        profile: a ``detect_face.StageProfile`` that collects the seconds of every step
            (claims, JPEG reading, the detector's steps, cropping and PNG writing).
    """

    def __init__(self, detector, output_dir, image_size, margin, detect_multiple_faces=False,
                 batch_size=32, log=print, nrof_workers=2, profile=None):
        self.detector = detector
        self.output_dir = output_dir
        self.image_size = image_size
        self.margin = margin
        self.detect_multiple_faces = detect_multiple_faces
        self.batch_size = batch_size
        self.log = log
        self.claims = claims_module.ImageClaims(output_dir)
        self.nrof_workers = nrof_workers
        self.profile = profile or detect_face.StageProfile()
        self.counts = Counter()
        self._output_lock = threading.Lock()
        self._bounding_boxes_file = None

    def run(self, work, bounding_boxes_file, reader=None):
        """Align ``work`` (``list_images`` triples); returns the Counter of outcomes:
        ``images``, ``faces`` (crops written), ``no_face``, ``unreadable``, ``skipped``
        (done earlier or by another process).

        Batches are processed by ``nrof_workers`` threads while this thread claims the
        next ones: while one worker runs the networks (TensorFlow releases the GIL) the
        other crops and resizes, does the box arithmetic or writes PNGs; images are read
        ahead by an ``ImageReader`` (``reader``, started on ``work`` by the caller, e.g.
        before the detector was built; by default one is started here).
        """
        self.counts['images'] += len(work)
        self._bounding_boxes_file = bounding_boxes_file
        own_reader = reader is None
        if own_reader:
            reader = ImageReader(work, self._pyramid_levels(),
                                 still_to_do(self.output_dir, self.detect_multiple_faces),
                                 nrof_threads=self.nrof_workers)
        try:
            self._run_batches(reader, len(work))
        finally:
            if own_reader:
                reader.close()
        return self.counts

    def _pyramid_levels(self):
        detector = self.detector

        def levels(image):
            return detect_face.pyramid_levels(image, detector.minsize, detector.factor)
        return levels if hasattr(detector, 'minsize') else None

    def _run_batches(self, reader, nrof_items):
        with ThreadPoolExecutor(max_workers=self.nrof_workers) as pool:
            running = set()
            if hasattr(self.detector, 'prepare_runs'):
                # One worker prepares the later stages' runs while another starts the
                # first batch with P-Net (its first R-Net run then needs no preparation).
                running.add(pool.submit(self.detector.prepare_runs))
            try:
                for jobs in self._claimed_batches(reader, nrof_items):
                    running.add(pool.submit(self._process_batch, jobs))
                    if len(running) > self.nrof_workers:  # claim no further ahead
                        finished, running = wait(running, return_when=FIRST_COMPLETED)
                        for future in finished:
                            future.result()
            finally:
                finished, _ = wait(running)
            for future in finished:
                future.result()

    # -- claiming --------------------------------------------------------------------------
    def _already_aligned(self, class_name, job_name):
        return aligned_by_classic_run(self.claims, self.output_dir, class_name, job_name,
                                      self.detect_multiple_faces)

    def _claimed_batches(self, reader, nrof_items):
        batch, size, taken = [], self.batch_size, 0
        for (class_name, path, name), read in reader:
            if not batch:
                size = batch_size_near_the_end(self.batch_size, self.nrof_workers,
                                               nrof_items - taken)
            taken += 1
            claim = None
            with self.profile.timed('claims'):
                if not self._already_aligned(class_name, name):
                    claim = self.claims.claim(class_name, name)
                if claim is not None and claim.pending and bounding_boxes_written(
                        self.output_dir, claim.pending):
                    claim.finish('done by a killed run')  # its crops and lines are complete
                    claim = None
            if claim is None:
                read.cancel()
                with self._output_lock:
                    self.counts['skipped'] += 1
                continue
            job = ImageJob(class_name, path, name, self.output_dir, claim)
            job.read = read
            os.makedirs(job.class_dir, exist_ok=True)
            if claim.stale:
                claims_module.remove_partial_outputs(job.class_dir, job.name)
            batch.append(job)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- one batch -------------------------------------------------------------------------
    def _process_batch(self, jobs):
        """Read, detect and write one batch; every claim is finished or released."""
        try:
            with self.profile.timed('read'):
                readable = [job for job in jobs if self._read(job)]
            results = self.detector.detect_batch([job.image for job in readable],
                                                 profile=self.profile,
                                                 levels=[job.levels for job in readable])
            with self.profile.timed('write'):
                for job, (boxes, _) in zip(readable, results):
                    self._write_faces(job, boxes)
                    job.image = job.levels = None
        finally:
            for job in jobs:
                job.claim.release()  # no-op for the finished ones

    def _read(self, job):
        """Load the job's image; an unreadable file is reported and marked done."""
        try:
            read = job.read.result() if job.read is not None and not job.read.cancelled() \
                else None  # not read ahead, or no longer (ImageReader.read_ahead)
            job.read = None
            job.image, job.levels = read or read_image_and_pyramid(job.path)
            return True
        except (FacenetError, Image.DecompressionBombError) as error:
            with self._output_lock:
                self.log(job.path)
                self.log('%s: %s' % (job.path, error))
                self.counts['unreadable'] += 1
                job.claim.finish('unreadable')
            return False

    def _write_faces(self, job, boxes):
        """Crop and save the faces of one image, record them, and finish its claim."""
        written = []
        for i, box in enumerate(faces_to_write(boxes, job.image.shape, self.detect_multiple_faces)):
            patch, crop_box = face_crop.crop_face(job.image, box, self.margin, self.image_size)
            if patch is not None:
                output_path = job.output_path(i if self.detect_multiple_faces else None)
                save_png(output_path, patch)
                written.append('%s %d %d %d %d\n' % (output_path, *crop_box))
        with self._output_lock:
            self.log(job.path)
            self.counts['faces'] += len(written)
            nrof_faces = len(written)
            if not written:
                self.log('Unable to align "%s"' % job.path)
                self.counts['no_face'] += 1
                written = ['%s\n' % job.output_path()]
            self._append_bounding_boxes(job.claim, ''.join(written))
            job.claim.finish('%d faces' % nrof_faces)

    def _append_bounding_boxes(self, claim, text):
        """Append one image's lines to this process's file, noting first in its claim where
        they go (so that a run resuming after a kill writes them exactly once)."""
        handle = self._bounding_boxes_file
        try:
            handle.flush()
            data = text.encode('utf-8', 'surrogateescape')
            offset = os.lseek(handle.fileno(), 0, os.SEEK_CUR)
            claim.record_pending(os.path.basename(handle.name), offset, data)
            handle.write(text)
            handle.flush()
        except OSError as error:
            raise FacenetError('cannot write %s: %s' % (handle.name, error.strerror)) from None
