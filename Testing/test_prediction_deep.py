"""CNN score preprocessing (seed 004: largest slice, W250/L40, 0.72 mm, 224 x 224, z-score), CNN and Grad-CAM."""

from __future__ import annotations

import numpy as np
import pytest

from HCCInterventionalAILib.prediction.deep import largest_tumour_slice, preprocess_slice
from HCCInterventionalAILib.prediction.errors import PredictionInputError


def phantom(tumour_hu: float = 500.0):
    """10 slices of 100 x 100 voxels at 1.44 mm: air (-1000 HU), a liver box (60 HU) on rows 20-79, columns
    10-89, and a tumour disk (centre row 50, column 50) whose radius is 2 + k voxels up to slice 6, then shrinks."""
    ct = np.full((10, 100, 100), -1000.0, dtype=np.float32)
    liver = np.zeros(ct.shape, dtype=bool)
    liver[:, 20:80, 10:90] = True
    ct[liver] = 60.0
    rows, cols = np.mgrid[:100, :100]
    tumour = np.zeros(ct.shape, dtype=bool)
    radii = [2, 3, 4, 5, 6, 7, 12, 8, 4, 2]
    for k, radius in enumerate(radii):
        tumour[k] = (rows - 50) ** 2 + (cols - 50) ** 2 <= radius**2
    ct[tumour] = tumour_hu
    return ct, liver, tumour


def test_largest_slice_and_window_saturation():
    """Slice 6 has the largest disk (radius 12). The window W250/L40 spans -85..165 HU, so a tumour at 500 HU and one
    at 165 HU give the same input exactly; the output is z-scored."""
    ct, liver, tumour = phantom()
    assert largest_tumour_slice(tumour) == 6
    image = preprocess_slice(ct, (1.44, 1.44), liver, tumour)
    assert image.shape == (224, 224)
    assert image.mean() == pytest.approx(0.0, abs=1e-5)
    assert image.std() == pytest.approx(1.0, abs=1e-4)
    same = preprocess_slice(phantom(165.0)[0], (1.44, 1.44), liver, tumour)
    assert np.array_equal(image, same)


def test_geometry_is_preserved():
    """Crop = liver box + 5 mm (3.5 -> 3 voxels at 1.44 mm): 66 x 86 voxels. The tumour disk (radius 12 voxels,
    area pi 12^2 = 452 voxels, 3.7% of 5676 voxels... as counted on the grid: 441 voxels) keeps its area fraction
    through resampling and resizing (within 10%), and its centre lands where it was in the crop."""
    ct, liver, tumour = phantom()
    image = preprocess_slice(ct, (1.44, 1.44), liver, tumour)
    fraction_expected = tumour[6].sum() / (66 * 86)
    bright = image > image.max() - 0.5
    assert bright.mean() == pytest.approx(fraction_expected, rel=0.1)
    rows, cols = np.nonzero(bright)
    # centre (row 50, column 50) in a crop starting at row 17, column 7: (33.5/66, 43.5/86) of the crop
    assert rows.mean() / 224 == pytest.approx((50 - 17 + 0.5) / 66, abs=0.02)
    assert cols.mean() / 224 == pytest.approx((50 - 7 + 0.5) / 86, abs=0.02)


def test_preprocessing_bad_inputs():
    ct, liver, tumour = phantom()
    with pytest.raises(PredictionInputError, match="empty"):
        preprocess_slice(ct, (1.44, 1.44), liver, np.zeros_like(tumour))
    with pytest.raises(PredictionInputError, match="same shape"):
        preprocess_slice(ct, (1.44, 1.44), liver[:5], tumour)


def test_cnn_learns_a_bright_lesion_and_grad_cam_points_at_it():
    """32 x 32 noise images; events carry a 6 x 6 bright square (+2.5) at a random place. A few epochs give a
    held-out AUC > 0.9, and the Grad-CAM maximum (third block, a 4 x 4 map of 8-pixel cells) falls within 8 pixels
    of the square's centre for most event images (a map pointing at random would do so for ~(17/32)^2 = 28%)."""
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from HCCInterventionalAILib.prediction.deep import cnn_scores, grad_cam, train_cnn
    from HCCInterventionalAILib.prediction.evaluation import auc_ci

    rng = np.random.default_rng(0)

    def images(n):
        x = rng.normal(0, 1, (n, 32, 32)).astype(np.float32)
        y = rng.integers(0, 2, n)
        centres = rng.integers(5, 27, (n, 2))
        for image, label, (r, c) in zip(x, y, centres, strict=True):
            if label:
                image[r - 3:r + 3, c - 3:c + 3] += 2.5
        return x, y, centres

    x_train, y_train, _ = images(160)
    x_test, y_test, centres = images(60)
    model, history = train_cnn(x_train, y_train, epochs=6, seed=0, channels=(8, 16, 16, 32))
    assert history[-1] < history[0]
    assert auc_ci(y_test, cnn_scores(model, x_test)).auc > 0.9
    maps = grad_cam(model, x_test[y_test == 1], target_layer="features.2")
    peaks = np.array([np.unravel_index(np.argmax(m), m.shape) for m in maps])
    distance = np.abs(peaks - centres[y_test == 1]).max(axis=1)
    assert (distance <= 8).mean() > 0.7


@pytest.mark.gpu
def test_cnn_scores_agree_on_cuda_and_cpu():
    """The same trained CNN gives the same scores on CUDA as on the CPU (float32 tolerance)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from HCCInterventionalAILib.prediction.deep import cnn_scores, train_cnn

    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 32, 32)).astype(np.float32)
    y = rng.integers(0, 2, 64)
    model, _ = train_cnn(x, y, epochs=1, device="cuda", channels=(8, 16, 16, 32))
    on_gpu = cnn_scores(model, x, device="cuda")
    on_cpu = cnn_scores(model.cpu(), x, device="cpu")
    assert on_gpu == pytest.approx(on_cpu, abs=1e-3)
