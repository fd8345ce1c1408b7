"""align.box_maths: the MTCNN box arithmetic (pure numpy), on hand-computed cases."""
import numpy as np
import pytest

from align import box_maths


def test_pyramid_scales():
    scales = box_maths.pyramid_scales(250, 250, 20, 0.709)
    assert len(scales) == 8
    np.testing.assert_allclose(scales[:3], [0.6, 0.6 * 0.709, 0.6 * 0.709 ** 2])
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709
    assert box_maths.pyramid_scales(11, 400, 12, 0.709) == []
    assert box_maths.scaled_size(250, 200, 0.6) == (150, 120)


def test_nms_union_and_min():
    boxes = np.array([[0, 0, 9, 9, 0.9],      # area 100
                      [2, 2, 11, 11, 0.8],    # IoU with the first: 64 / 136
                      [0, 0, 3, 3, 0.95],     # inside the first: IoU 0.16, Min overlap 1
                      [50, 50, 60, 60, 0.5]])
    assert box_maths.nms(boxes, 0.5, 'Union').tolist() == [2, 0, 1, 3]
    assert box_maths.nms(boxes, 0.4, 'Union').tolist() == [2, 0, 3]
    assert box_maths.nms(boxes, 0.5, 'Min').tolist() == [2, 1, 3]
    assert box_maths.nms(np.empty((0, 5)), 0.5).size == 0


@pytest.mark.parametrize('method', ['Union', 'Min'])
def test_nms_matrix_and_loop_paths_agree(monkeypatch, method):
    rng = np.random.RandomState(3)
    corners = rng.uniform(0, 200, (600, 2))
    sizes = rng.uniform(5, 60, (600, 1))
    boxes = np.hstack([corners, corners + sizes, rng.uniform(0, 1, (600, 1))])
    loop = box_maths.nms(boxes, 0.5, method)             # 600 > NMS_MATRIX_SIZE
    monkeypatch.setattr(box_maths, 'NMS_MATRIX_SIZE', 1000)
    matrix = box_maths.nms(boxes, 0.5, method)
    assert 20 < len(loop) < 600
    np.testing.assert_array_equal(loop, matrix)


def test_bbreg_rerec_and_pnet_bbreg():
    boxes = np.array([[10.0, 20.0, 29.0, 59.0, 0.9]])   # 20 x 40 pixels
    moved = box_maths.bbreg(boxes, np.array([[0.1, -0.05, 0.5, 0.25]]))
    np.testing.assert_allclose(moved, [[12.0, 18.0, 39.0, 69.0, 0.9]])
    square = box_maths.rerec(boxes)
    np.testing.assert_allclose(square, [[0.0, 20.0, 39.0, 59.0, 0.9]])
    stage_one = np.array([[10.0, 20.0, 30.0, 60.0, 0.7, 0.1, 0.0, -0.1, 0.5]])
    np.testing.assert_allclose(box_maths.pnet_bbreg(stage_one), [[12.0, 20.0, 28.0, 80.0, 0.7]])


def test_pad_clips_boxes_to_the_image():
    boxes = np.array([[-4.0, 3.0, 5.0, 12.0], [91.0, 95.0, 110.0, 114.0]])
    dy, edy, dx, edx, y, ey, x, ex, tmpw, tmph = box_maths.pad(boxes, 100, 105)
    assert tmpw.tolist() == [10, 20] and tmph.tolist() == [10, 20]
    assert (x.tolist(), ex.tolist(), dx.tolist(), edx.tolist()) == ([1, 91], [5, 100], [6, 1], [10, 10])
    assert (y.tolist(), ey.tolist(), dy.tolist(), edy.tolist()) == ([3, 95], [12, 105], [1, 1], [10, 11])


def test_generate_bounding_boxes_and_the_lone_candidate_quirk():
    score = np.zeros((4, 3), np.float32)     # transposed layout: W' x H'
    regression = np.arange(4 * 3 * 4, dtype=np.float32).reshape(4, 3, 4) / 100
    score[1, 2] = 0.9
    score[3, 0] = 0.7
    boxes = box_maths.generate_bounding_boxes(score, regression, 0.5, 0.6)
    # cell (x=1, y=2): x1 = fix((2*1+1)/0.5) = 6, y1 = 10, x2 = fix((2+12)/0.5) = 28, y2 = 32
    np.testing.assert_allclose(boxes[0, :5], [6, 10, 28, 32, 0.9], rtol=1e-6)
    np.testing.assert_allclose(boxes[0, 5:], regression[1, 2], rtol=1e-6)
    np.testing.assert_allclose(boxes[1, :4], [14, 2, 36, 24])
    score[3, 0] = 0.0
    lone = box_maths.generate_bounding_boxes(score, regression, 0.5, 0.6)
    assert lone.shape == (1, 9)
    np.testing.assert_allclose(lone[0, 5:], regression[2, 2], rtol=1e-6)  # row 4-1-1
    assert box_maths.generate_bounding_boxes(score * 0, regression, 0.5, 0.6).shape == (0, 9)
