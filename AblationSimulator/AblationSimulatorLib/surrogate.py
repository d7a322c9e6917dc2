"""A physics-trained network that predicts the bioheat ablation zone in one pass (a fast surrogate of the solver).

What it is, exactly: a MONAI 3-D U-Net trained ONLY on simulations of this library's Pennes solver
(:func:`~.bioheat.simulate_bioheat`, perfused liver, calibrated microwave sources of
:mod:`~.devices`) in SYNTHETIC anatomy: a 48³ patch of 1.5 mm voxels of homogeneous enhanced liver (100 HU, noise
σ 15 HU) crossed by 0–2 straight vessels (180 HU, 3–10 mm diameter, random position and direction) that act as
heat sinks. It has never seen a patient, an ex-vivo or in-vivo ablation: it reproduces the solver, not reality.

Inputs (4 channels, (k, j, i) order, 48³ patch centred on the zone centre):

1. CT, ``clip((HU + 100) / 400, 0, 1)``;
2. applicator source: the calibrated power density of the device setting divided by its maximum;
3. power ``P / 150 W`` and 4. time ``t / 900 s`` as constant maps.

Output: 2 channels (background, coagulated Ω ≥ 1), softmax; the zone is where the coagulation logit exceeds the
background logit (:func:`predict_logits` returns their difference). Network (v1.3.0): MONAI ``UNet`` with channels
4-8-16-32 (:data:`NETWORK_ARGS`), narrowed from the 8-16-32-64 v1.2.0 and fine-tuned (:func:`narrow_state_dict`).
:func:`predict_zone_network` runs it through the project's model-loading library
(:func:`HCCInterventionalAILib.models.load_model`, SHA-256-verified files) from the card
``Resources/ModelCards/ablation-zone-surrogate.json`` (task "image-to-image", so that it is not offered as a CT
segmentation model): on the CPU with ONNX Runtime from the shipped ``.onnx`` (an export of the shipped ``.pt``, see
:func:`export_onnx`), on a GPU or without onnxruntime with PyTorch from the ``.pt``; the loaded network is cached per
process. The logit difference is interpolated linearly onto the target grid before thresholding
(:func:`zone_on_fine`), so the zone's boundary is not a staircase of 1.5 mm voxels. :func:`main` regenerates the
data and retrains it.

Evaluation (model card; :func:`compare_with_fine_solver`): the labels are the solver's zones on the network's own
1.5 mm grid, but the answer a user wants is the 1 mm solver over the same 72 mm field of view, so the network's
zone is also computed on that 1 mm grid and compared with it, and its speed is compared with that 1 mm solver run
(the equivalent answer, same number of CPU threads), not with a larger or coarser one (``benchmarks/ablation.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AblationInputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from HCCInterventionalAILib.imaging import Geometry, Volume

    from .applicator import Applicator
    from .pipeline import AblationRequest

__all__ = [
    "PATCH",
    "SPACING_MM",
    "SurrogateCase",
    "card_path",
    "synthetic_case",
    "network_inputs",
    "simulate_case",
    "predict_patch",
    "predict_zone_network",
    "patch_geometry",
    "dice",
    "TRAINING_SETTINGS",
    "fine_geometry",
    "FineComparison",
    "compare_with_fine_solver",
    "export_onnx",
    "predict_logits",
    "zone_on_fine",
    "narrow_state_dict",
]

PATCH = 48
SPACING_MM = 1.5
#: Settings the network was trained on (device: (power range W, time range s)); Amica limited so zones fit the patch.
TRAINING_SETTINGS = {
    "covidien-mwa": ((45.0, 100.0), (150.0, 600.0)),
    "amica-probe": ((20.0, 60.0), (180.0, 600.0)),
    "angiodynamics-acculis": ((60.0, 140.0), (120.0, 360.0)),
}
CARD_FILE = "ablation-zone-surrogate.json"
WEIGHTS_FILE = "ablation-zone-surrogate.pt"


def card_path() -> Path:
    """The surrogate's model card, ``Resources/ModelCards/ablation-zone-surrogate.json`` (weights beside it)."""
    from HCCInterventionalAILib.models.card import builtin_cards_directory

    return builtin_cards_directory() / CARD_FILE


def patch_geometry(centre_lps: np.ndarray) -> Geometry:
    """48³ axis-aligned LPS grid of 1.5 mm voxels centred on ``centre_lps``."""
    from HCCInterventionalAILib.imaging import Geometry

    half = (PATCH - 1) / 2 * SPACING_MM
    return Geometry((PATCH,) * 3, (SPACING_MM,) * 3, tuple(np.asarray(centre_lps, dtype=float) - half))


@dataclass
class SurrogateCase:
    """One synthetic training/validation case."""

    geometry: Geometry
    ct_hu: np.ndarray
    vessels: np.ndarray
    applicator: Applicator
    device: str
    power_w: float
    time_s: float


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def fine_geometry(centre_lps: np.ndarray | None = None, spacing_mm: float = 1.0) -> Geometry:
    """Grid of ``spacing_mm`` voxels covering the network patch's field of view (72 mm cube) about the same centre."""
    from HCCInterventionalAILib.imaging import Geometry

    extent = PATCH * SPACING_MM
    n = int(round(extent / spacing_mm))
    centre = np.zeros(3) if centre_lps is None else np.asarray(centre_lps, dtype=float)
    return Geometry((n,) * 3, (spacing_mm,) * 3, tuple(centre - (n - 1) / 2 * spacing_mm))


def synthetic_case(seed: int, geometry: Geometry | None = None) -> SurrogateCase:
    """A random synthetic case (see module docstring); the zone centre is the patch centre ± 3 mm.

    Args:
        seed: random seed.
        geometry: grid to render the case on (default: the network's 48³ patch); the same seed gives the same
            applicator, setting and vessels on any grid (e.g. :func:`fine_geometry` for the 1 mm solver).
    """
    from .applicator import Applicator
    from .devices import get_device

    rng = np.random.default_rng(seed)
    geometry = geometry or patch_geometry(np.zeros(3))
    key = list(TRAINING_SETTINGS)[int(rng.integers(len(TRAINING_SETTINGS)))]
    (p0, p1), (t0, t1) = TRAINING_SETTINGS[key]
    power, duration = float(rng.uniform(p0, p1)), float(rng.uniform(t0, t1))
    offset = get_device(key).ellipsoid(power, duration).centre_offset_mm
    direction = _random_unit(rng)
    centre = rng.uniform(-3.0, 3.0, size=3)
    tip = centre + offset * direction
    applicator = Applicator(tuple(tip), tuple(tip - 100.0 * direction), "Applicator")
    kk, jj, ii = np.indices(geometry.shape)
    points = geometry.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)).reshape(*geometry.shape, 3)
    vessels = np.zeros(geometry.shape, dtype=bool)
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        axis = _random_unit(rng)
        radius = rng.uniform(1.5, 5.0)
        across = np.cross(axis, _random_unit(rng))
        anchor = centre + rng.uniform(radius + 3.0, 24.0) * across / np.linalg.norm(across)
        rel = points - anchor
        distance2 = (rel**2).sum(-1) - (rel @ axis) ** 2
        vessels |= distance2 <= radius**2
    ct = 100.0 + rng.normal(0.0, 15.0, size=geometry.shape)
    ct[vessels] = 180.0 + rng.normal(0.0, 15.0, size=int(vessels.sum()))
    return SurrogateCase(geometry, ct.astype(np.float32), vessels, applicator, key, power, duration)


def network_inputs(ct_hu: np.ndarray, source_density: np.ndarray, power_w: float, time_s: float) -> np.ndarray:
    """The 4-channel input (C, k, j, i) float32 of the module docstring."""
    peak = float(source_density.max())
    if peak <= 0:
        raise AblationInputError("The applicator source does not reach the network's patch")
    inputs = np.empty((4, *np.shape(ct_hu)), dtype=np.float32)  # filled in place: no float64 temporaries
    np.clip((np.asarray(ct_hu, dtype=np.float32) + 100.0) / 400.0, 0.0, 1.0, out=inputs[0])
    np.multiply(source_density, 1.0 / peak, out=inputs[1], casting="same_kind")
    inputs[2].fill(power_w / 150.0)
    inputs[3].fill(time_s / 900.0)
    return inputs


def _source(case_geometry: Geometry, applicator: Applicator, device: str, power_w: float, time_s: float):
    from .devices import get_device
    from .source import applicator_power_density

    model = get_device(device).source_model(power_w, time_s)
    return applicator_power_density(case_geometry, [(applicator, model)])


def simulate_case(case: SurrogateCase, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, float]:
    """(inputs, zone mask from the solver, solver seconds) for a case (perfused liver, vessels as heat sinks; the
    source with its absorbed-power decay, as :func:`~.source.simulate_applicators` runs it)."""
    from .bioheat import TISSUE_PRESETS, simulate_bioheat
    from .devices import get_device

    q = _source(case.geometry, case.applicator, case.device, case.power_w, case.time_s)
    model = get_device(case.device).source_model(case.power_w, case.time_s)
    envelope = model.envelope if model.power_decay_time_s is not None else None
    started = time.perf_counter()
    result = simulate_bioheat(q, case.time_s, tissue=TISSUE_PRESETS["liver"], spacing_mm=case.geometry.spacing,
                              vessels=case.vessels if case.vessels.any() else None, device=device,
                              power_envelope=envelope)
    seconds = time.perf_counter() - started
    return network_inputs(case.ct_hu, q, case.power_w, case.time_s), result.coagulation_mask(), seconds


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Sørensen–Dice coefficient 2|A∩B| / (|A| + |B|) (1 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2.0 * (a & b).sum() / total)


@dataclass
class FineComparison:
    """The network against the solver at the network's resolution (1.5 mm, its training labels) and at 1 mm
    over the same 72 mm field of view (the network's logit difference interpolated onto the 1 mm grid)."""

    seed: int
    dice_coarse: float
    dice_fine: float
    network_seconds: float
    solver_coarse_seconds: float
    solver_fine_seconds: float


def compare_with_fine_solver(seed: int, *, device: str = "cpu", card: Any = None, cache_dir: Any = None,
                             fine_spacing_mm: float = 1.0, backend: str = "auto") -> FineComparison:
    """Solve a synthetic case at 1.5 mm (the label resolution) and at ``fine_spacing_mm`` over the same field of view,
    and predict it with the network; Dice and wall times of each (the 1 mm solver is the reference answer).

    Timed alike on both sides: the solver from its power-density grid to its Ω ≥ 1 mask (``simulate_case``); the
    network from its 4-channel input to its zone on the 1 mm grid (forward pass, then :func:`zone_on_fine`), after
    one untimed warm-up call that loads and verifies the weights (cached per process). Building the source grid
    (needed by both) is not timed on either side."""
    coarse_case = synthetic_case(seed)
    inputs, coarse_zone, coarse_seconds = simulate_case(coarse_case, device=device)
    fine_case = synthetic_case(seed, fine_geometry(spacing_mm=fine_spacing_mm))
    _, fine_zone, fine_seconds = simulate_case(fine_case, device=device)

    def network() -> tuple[np.ndarray, np.ndarray]:
        logits = predict_logits(inputs, device=device, card=card, cache_dir=cache_dir, backend=backend)
        return logits > 0, zone_on_fine(logits, coarse_case.geometry, fine_case.geometry)

    network()  # warm-up: load and verify the weights
    started = time.perf_counter()
    predicted, on_fine = network()
    network_seconds = time.perf_counter() - started
    return FineComparison(seed, dice(predicted, coarse_zone), dice(on_fine, fine_zone), network_seconds,
                          coarse_seconds, fine_seconds)


#: Loaded runners, keyed by (backend, device, card key and checksums, cache folder, CPU threads).
_RUNNERS: dict[tuple, Any] = {}


def _backend(backend: str, device: Any, card: Any) -> str:
    """``"onnx"`` (ONNX Runtime, CPU) or ``"torch"``; ``"auto"`` = ONNX Runtime on the CPU when installed and the card
    has an ONNX file."""
    if backend not in ("auto", "onnx", "torch"):
        raise AblationInputError(f"Unknown network backend '{backend}' (use auto, onnx or torch)")
    if backend != "auto":
        return backend
    if card.format != "onnx":
        return "torch"
    from HCCInterventionalAILib.device import select_device

    if select_device(device).type != "cpu":
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def _torch_card(card: Any) -> Any:
    """The card's PyTorch variant: the same network (``network``) from the state-dict file listed beside the ONNX."""
    from dataclasses import replace

    pt = next((f for f in card.files if f.target_name.endswith(".pt")), None)
    if card.format == "state_dict" or pt is None:
        return card
    return replace(card, format="state_dict", weights=pt.target_name, files=(pt,))


def _runner(device: Any, card: Any, cache_dir: Any, backend: str) -> Any:
    """A loaded network as ``numpy (1, 4, 48, 48, 48) float32 -> logits (1, 2, 48, 48, 48)``, cached per process.

    The files are fetched and SHA-256-verified by the model-loading library (:func:`load_model`). ONNX Runtime's
    session is re-created on the verified file with ``torch.get_num_threads()`` intra-op threads (one inter-op
    thread), so that the network and the solver run on the same number of CPU threads.
    """
    import torch

    from HCCInterventionalAILib.models import load_card, load_model

    card = card or load_card(card_path())
    name = _backend(backend, device, card)
    threads = torch.get_num_threads()
    key = (name, str(device), card.key, tuple(f.sha256 for f in card.files), str(cache_dir), threads)
    if key in _RUNNERS:
        return _RUNNERS[key]
    if name == "onnx":
        if card.format != "onnx":
            raise AblationInputError(f"The model card {card.key} has no ONNX file")
        import onnxruntime as ort

        loaded = load_model(card, device="cpu", cache_dir=cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(str(loaded.folder / card.weights_path), options,
                                       providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def run(batch: np.ndarray) -> np.ndarray:
            return session.run(None, {input_name: batch})[0]
    else:
        loaded = load_model(_torch_card(card), device=device, cache_dir=cache_dir)
        network, torch_device = loaded.network, loaded.device

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return network(torch.from_numpy(batch).to(torch_device)).float().cpu().numpy()
    _RUNNERS[key] = run
    return run


def predict_logits(inputs: np.ndarray, *, device: Any = "auto", card: Any = None, cache_dir: Any = None,
                   backend: str = "auto") -> np.ndarray:
    """Coagulation minus background logit (float32, 48³) of one 4-channel input patch, through the model-loading
    library; > 0 is the zone (the argmax of the two-class softmax).

    Args:
        inputs: (4, 48, 48, 48) input of :func:`network_inputs`.
        device: torch device for the PyTorch backend ("auto", "cpu", "cuda").
        card: the model card (default: the shipped card).
        cache_dir: model cache folder.
        backend: "auto" (ONNX Runtime on the CPU when installed and the card has an ONNX file, else PyTorch),
            "onnx" or "torch"; both run the same weights (the ONNX graph is exported from the state dict by
            :func:`export_onnx`).
    """
    logits = _runner(device, card, cache_dir, backend)(np.ascontiguousarray(inputs[None], dtype=np.float32))
    return logits[0, 1] - logits[0, 0]


def predict_patch(inputs: np.ndarray, *, device: Any = "auto", card: Any = None, cache_dir: Any = None,
                  backend: str = "auto") -> np.ndarray:
    """Zone mask (uint8, 48³) of one 4-channel input patch: :func:`predict_logits` > 0 (same arguments)."""
    return (predict_logits(inputs, device=device, card=card, cache_dir=cache_dir, backend=backend) > 0).astype(np.uint8)


def export_onnx(weights: Path, onnx_path: Path, network_args: dict[str, Any] | None = None) -> Path:
    """Export the U-Net state dict to ONNX (opset 17, fixed 1×4×48³ input) with torch's TorchScript-based exporter."""
    import warnings

    import torch
    from monai.networks.nets import UNet

    net = UNet(**(network_args or NETWORK_ARGS))
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 4, PATCH, PATCH, PATCH),), str(onnx_path), dynamo=False,
                          input_names=["input"], output_names=["logits"], opset_version=17)
    return onnx_path


def _linear_axes(coarse: Geometry, fine: Geometry) -> list[tuple[np.ndarray, np.ndarray]]:
    if not (np.allclose(coarse.direction_matrix, np.eye(3)) and np.allclose(fine.direction_matrix, np.eye(3))):
        raise AblationInputError("Both grids must be axis-aligned to interpolate a zone axis by axis")
    axes = []
    for axis in (2, 1, 0):  # array order (k, j, i); spacing and origin are in (i, j, k) order
        n = coarse.shape[2 - axis]
        x = fine.origin[axis] + fine.spacing[axis] * np.arange(fine.shape[2 - axis])
        p = np.clip((x - coarse.origin[axis]) / coarse.spacing[axis], 0, n - 1)
        low = np.minimum(np.floor(p).astype(np.intp), n - 2)
        axes.append((low, (p - low).astype(np.float32)))
    return axes


def zone_on_fine(logits: np.ndarray, coarse: Geometry, fine: Geometry) -> np.ndarray:
    """Zone (uint8) on an axis-aligned ``fine`` grid from the network's logit difference on the axis-aligned
    ``coarse`` patch: trilinear interpolation of the logit difference (clamped at the patch faces), then > 0, so the
    zone's boundary is the interpolated zero level, not a staircase of 1.5 mm voxels.

    When ``fine`` covers exactly the patch's field of view (e.g. :func:`fine_geometry` about the patch centre, the
    "half-pixel" correspondence of the ONNX ``Resize`` operator) ONNX Runtime's ``Resize`` computes it; otherwise
    NumPy interpolates one axis at a time. Both give the same trilinear interpolation."""
    axes = _linear_axes(coarse, fine)
    value = np.ascontiguousarray(logits, dtype=np.float32)
    resize = _resize_session(value.shape, fine.shape) if _is_half_pixel(coarse, fine) else None
    if resize is not None:
        return resize.run(None, {"logits": value[None, None]})[0][0, 0].astype(np.uint8)
    for dim, (low, weight) in enumerate(axes):
        shape = [1, 1, 1]
        shape[dim] = -1
        a, b = value.take(low, dim), value.take(low + 1, dim)
        value = a + weight.reshape(shape) * (b - a)
    return (value > 0).astype(np.uint8)


def _is_half_pixel(coarse: Geometry, fine: Geometry) -> bool:
    """Whether fine voxel ``o`` sits at coarse index ``(o + 0.5)·n_coarse/n_fine − 0.5`` along every axis."""
    for axis in range(3):
        n_in, n_out = coarse.shape[2 - axis], fine.shape[2 - axis]
        o = np.arange(n_out)
        p = (fine.origin[axis] + fine.spacing[axis] * o - coarse.origin[axis]) / coarse.spacing[axis]
        if not np.allclose(p, (o + 0.5) * n_in / n_out - 0.5, atol=1e-6):
            return False
    return True


_RESIZERS: dict[tuple, Any] = {}


def _resize_session(shape_in: tuple[int, ...], shape_out: tuple[int, ...]) -> Any:
    """An ONNX Runtime session of ``Resize`` (linear, half-pixel) followed by ``> 0``; None without onnxruntime."""
    import torch

    key = (tuple(shape_in), tuple(shape_out), torch.get_num_threads())
    if key not in _RESIZERS:
        try:
            import onnxruntime as ort
            from onnx import TensorProto, helper
        except ImportError:
            return None
        sizes = helper.make_tensor("sizes", TensorProto.INT64, [5], [1, 1, *shape_out])
        zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
        graph = helper.make_graph(
            [helper.make_node("Resize", ["logits", "", "", "sizes"], ["fine"], mode="linear",
                              coordinate_transformation_mode="half_pixel"),
             helper.make_node("Greater", ["fine", "zero"], ["zone"])],
            "zone_on_fine", [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, *shape_in])],
            [helper.make_tensor_value_info("zone", TensorProto.BOOL, [1, 1, *shape_out])], initializer=[sizes, zero])
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = key[2], 1
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        _RESIZERS[key] = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return _RESIZERS[key]


def predict_zone_network(
    ct: Volume, applicators: list[Applicator], request: AblationRequest, *, vessels: np.ndarray | None = None,
    device: Any = "auto", cache_dir: Any = None,
) -> np.ndarray:
    """Network zone (uint8 on the CT grid): one patch per applicator around its zone centre, its logit difference
    interpolated linearly onto the CT grid and thresholded at 0, union of the zones.

    With a ``vessels`` mask (on the CT grid) the CT channel is rendered as the solver sees the anatomy, 100 HU
    tissue and 180 HU vessels (the network's training distribution; the solver too treats everything but the
    vessels as liver). Without it the CT itself is used, which outside homogeneous enhanced liver (fat, air,
    tumour) lies outside what the network was trained on.

    Raises:
        AblationInputError: a setting outside the training range (see ``TRAINING_SETTINGS``).
    """
    from HCCInterventionalAILib.imaging import Volume
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry

    from .devices import get_device

    device_preset = get_device(request.ablation_device)
    if device_preset.key not in TRAINING_SETTINGS:
        raise AblationInputError(f"The network was not trained for {device_preset.name}")
    (p0, p1), (t0, t1) = TRAINING_SETTINGS[device_preset.key]
    if not (p0 <= request.power_w <= p1 and t0 <= request.time_s <= t1):
        raise AblationInputError(
            f"The network was trained on {device_preset.name} at {p0:g}–{p1:g} W for {t0:g}–{t1:g} s only")
    offset = device_preset.ellipsoid(request.power_w, request.time_s).centre_offset_mm
    zone = np.zeros(ct.geometry.shape, dtype=np.uint8)
    if vessels is not None:
        ct = ct.with_array(np.where(np.asarray(vessels, bool), 180.0, 100.0).astype(np.float32))
    for applicator in applicators:
        geometry = patch_geometry(applicator.point_from_tip(offset))
        ct_patch = resample_to_geometry(ct, geometry, "linear", default_value=-1000.0).array.astype(np.float32)
        q = _source(geometry, applicator, device_preset.key, request.power_w, request.time_s)
        logits = predict_logits(network_inputs(ct_patch, q, request.power_w, request.time_s), device=device,
                                cache_dir=cache_dir)
        on_ct = resample_to_geometry(Volume(logits, geometry), ct.geometry, "linear", default_value=-1.0).array
        zone |= (on_ct > 0).astype(np.uint8)
    return zone


# -- data generation and training (offline: python -m AblationSimulatorLib.surrogate OUT_DIR) -------------------
def _simulate_seed(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    import torch

    torch.set_num_threads(1)
    inputs, zone, seconds = simulate_case(synthetic_case(seed))
    return inputs.astype(np.float16), zone, seconds


def build_dataset(seeds: list[int], processes: int = 2) -> dict[str, np.ndarray]:
    """Simulate the cases of ``seeds`` (float16 inputs, uint8 zones, solver seconds)."""
    from multiprocessing import Pool

    with Pool(processes) as pool:
        out = pool.map(_simulate_seed, seeds)
    return {"inputs": np.stack([o[0] for o in out]), "zones": np.stack([o[1] for o in out]),
            "seconds": np.array([o[2] for o in out]), "seeds": np.array(seeds)}


NETWORK_ARGS = {"spatial_dims": 3, "in_channels": 4, "out_channels": 2, "channels": [4, 8, 16, 32],
                "strides": [2, 2, 2], "num_res_units": 0, "norm": "instance"}


def train(data: dict[str, np.ndarray], epochs: int = 30, batch_size: int = 4, learning_rate: float = 2e-3,
          seed: int = 0, log: Any = print, init_state: dict | None = None,
          network_args: dict[str, Any] | None = None) -> tuple[Any, list[float]]:
    """Train the U-Net (Dice + cross-entropy, Adam, random flips/permutations of the axes as augmentation).

    Args:
        init_state: a state dict to start from (fine-tuning), None = random initialisation.
        network_args: MONAI ``UNet`` arguments (default :data:`NETWORK_ARGS`).
    """
    import torch
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = UNet(**(network_args or NETWORK_ARGS))
    if init_state is not None:
        net.load_state_dict(init_state)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    x_all = torch.as_tensor(data["inputs"].astype(np.float32))
    y_all = torch.as_tensor(data["zones"][:, None].astype(np.int64))
    history = []
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(x_all))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x, y = x_all[idx], y_all[idx]
            for axis in (2, 3, 4):  # the physics is symmetric under reflections: flip inputs and targets alike
                if rng.random() < 0.5:
                    x, y = x.flip(axis), y.flip(axis)
            perm = [0, 1, *(2 + rng.permutation(3))]
            x, y = x.permute(*perm), y.permute(*perm)
            optimiser.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        scheduler.step()
        history.append(float(np.mean(losses)))
        log(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}")
    net.eval()
    return net, history


def write_card(folder: Path, weights: Path, evaluation: dict[str, Any], onnx: Path | None = None) -> Path:
    """Write the model card beside the weights (checksums, network, inputs, and the held-out evaluation).

    With ``onnx`` the card's format is ``onnx`` (ONNX Runtime runs the graph on the CPU) and the state dict is listed
    as a second verified file, which the PyTorch backend (GPU, or no onnxruntime) builds from ``network``.
    """
    import hashlib
    import json

    def entry(path: Path) -> dict[str, Any]:
        return {"url": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "filename": path.name,
                "size": path.stat().st_size}

    files = [entry(onnx), entry(weights)] if onnx is not None else [entry(weights)]
    card = {
        "id": "ablation-zone-surrogate",
        "version": "1.3.0",
        "name": "Ablation-zone surrogate of the bioheat solver (synthetic training only)",
        "description": "3-D U-Net predicting the Arrhenius Omega >= 1 microwave-ablation zone that "
                       "AblationSimulatorLib's Pennes solver computes in perfused liver with vessels as heat sinks.",
        "task": "image-to-image",
        "format": "onnx" if onnx is not None else "state_dict",
        "files": files,
        "weights": files[0]["filename"],
        "network": {"name": "UNet", "args": NETWORK_ARGS},
        "input": {
            "modality": "CT",
            "channels": [{"name": "CT: clip((HU + 100) / 400, 0, 1)", "phase": "portal venous"},
                         {"name": "applicator source: calibrated power density / its maximum"},
                         {"name": "power / 150 W (constant map)"}, {"name": "time / 900 s (constant map)"}],
            "spacing": [SPACING_MM] * 3,
            "axis_order": "kji",
            "intensity": {"normalisation": "none"},
            "patch_size": [PATCH] * 3,
        },
        "output": {"activation": "softmax", "labels": [
            {"value": 0, "name": "background"},
            {"value": 1, "name": "ablation zone (Omega >= 1)", "color": [0.6, 0.2, 0.9]}]},
        "licence": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        "training": {
            "trained_by_project": True,
            "data": f"{evaluation['n_train']} SYNTHETIC cases generated by AblationSimulatorLib.surrogate "
                    "(48^3 patches of 1.5 mm: homogeneous enhanced liver 100 HU with noise, 0-2 straight vessels "
                    "180 HU of 3-10 mm at random positions; one applicator in a random direction; random device "
                    "setting within TRAINING_SETTINGS), labelled by this project's Pennes bioheat solver "
                    "(perfused liver, calibrated sources). No patient, ex-vivo or in-vivo data.",
            "method": f"python -m AblationSimulatorLib.surrogate: Adam (lr {evaluation['learning_rate']:g}, cosine), "
                      f"Dice + cross-entropy, {evaluation['epochs']} epochs, batch 4, random axis flips and "
                      f"permutations, CPU. {evaluation.get('initialisation', 'Random initialisation.')} "
                      "Not validated on real CT, real ablations, curved or branching vessels, tumour tissue, "
                      "several interacting applicators, or settings outside TRAINING_SETTINGS.",
        },
        "intended_use": "Research: fast preview of the bioheat zone (heat-sink effect) during planning; the solver "
                        "remains the reference.",
        "limitations": "Reproduces the project's solver on synthetic anatomy, not clinical reality. Trained on "
                       "straight vessels in homogeneous liver: on patient CT the CT channel should be rendered from "
                       "the vessel segmentation (100 HU tissue, 180 HU vessels; predict_zone_network does so when "
                       "given the vessels), raw CT with fat, air or tumour is outside the training data. Least "
                       "accurate at the corners of the training settings (e.g. Covidien 100 W / 600 s). One "
                       "applicator per 72 mm patch (several applicators are predicted one by one and united, "
                       "ignoring their thermal interaction).",
        "reported_accuracy": [
            {"metric": "Dice vs solver (mean)", "value": round(evaluation["dice_mean"], 4),
             "dataset": f"{evaluation['n_test']} held-out synthetic simulations (seeds 100000+)",
             "structure": "ablation zone", "source": "AblationSimulatorLib.surrogate evaluation (this project)"},
            {"metric": "Dice vs solver (minimum)", "value": round(evaluation["dice_min"], 4),
             "dataset": f"{evaluation['n_test']} held-out synthetic simulations", "structure": "ablation zone",
             "source": "AblationSimulatorLib.surrogate evaluation (this project)"},
            {"metric": "speed-up vs solver (median, 1 CPU thread, same 48^3 grid of 1.5 mm; solver times recorded "
                       "when the test set was simulated, network timed during the evaluation)",
             "value": round(evaluation["speedup_median"], 1),
             "dataset": f"{evaluation['n_test']} held-out synthetic simulations",
             "source": "AblationSimulatorLib.surrogate evaluation (this project)"},
            {"metric": "Dice vs 1 mm solver over the same 72 mm field of view (mean; network logit difference "
                       "interpolated trilinearly onto the 1 mm grid)",
             "value": round(evaluation["dice_fine_mean"], 4),
             "dataset": f"{evaluation['n_fine']} held-out synthetic simulations (seeds 100000+)",
             "structure": "ablation zone", "source": "AblationSimulatorLib.surrogate.compare_with_fine_solver"},
            {"metric": "Dice vs 1 mm solver (minimum)", "value": round(evaluation["dice_fine_min"], 4),
             "dataset": f"{evaluation['n_fine']} held-out synthetic simulations", "structure": "ablation zone",
             "source": "AblationSimulatorLib.surrogate.compare_with_fine_solver"},
            {"metric": "speed-up vs 1 mm solver over the same field of view (median, 1 CPU thread for both; network: "
                       f"{evaluation.get('backend', 'PyTorch')} forward pass and zone_on_fine, timed in the same run "
                       "as the solver)",
             "value": round(evaluation["speedup_fine_median"], 1),
             "dataset": f"{evaluation['n_fine']} held-out synthetic simulations",
             "source": "AblationSimulatorLib.surrogate.compare_with_fine_solver"},
        ],
        "research_only": True,
        "validation_status": "Trained on synthetic physics simulations only; research demo, not for clinical use",
    }
    path = folder / CARD_FILE
    path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return path


def narrow_state_dict(state: dict[str, Any], network_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Initialise a narrower U-Net (fewer channels, same number of levels) from a wider one's state dict: each tensor
    keeps its leading channels; the transposed convolutions that read a skip concatenation ``[skip, deeper]`` keep
    the leading channels of each part. From ``num_res_units=1`` to ``0`` the residual branches and the convolutions
    after each transposed convolution are dropped and each level keeps its main convolution. Fine-tuning then adapts
    the weights (``main``)."""
    import re

    from monai.networks.nets import UNet

    args = network_args or NETWORK_ARGS
    shapes = {k: v.shape for k, v in UNet(**args).state_dict().items()}
    if args.get("num_res_units", 0) == 0 and any(".residual." in k for k in state):
        renamed = {}
        for key, tensor in state.items():
            if ".residual." in key or re.search(r"(model\.2|submodule\.2)\.1\.", key):
                continue
            key = key.replace(".conv.unit0.conv.", ".conv.").replace(".conv.unit0.adn.", ".adn.")
            renamed[re.sub(r"(model\.2|submodule\.2)\.0\.", r"\1.", key)] = tensor
        state = {k: v for k, v in renamed.items() if k in shapes}  # the top layer has no activation
    if "model.0.conv.weight" in state:  # num_res_units = 0: one convolution per layer
        down, top, up = r"model\.1\.(submodule\.1\.)*submodule\.(0\.)?conv\.weight", "model.2.", "submodule.2."
        first = "model.0.conv.weight"
    else:
        down = r"model\.1\.(submodule\.1\.)*submodule\.(0\.)?conv\.unit0\.conv\.weight"
        top, up, first = "model.2.0.", "submodule.2.0.", "model.0.conv.unit0.conv.weight"
    old_channels = [int(state[first].shape[0])]
    old_channels += [int(v.shape[0]) for k, v in state.items() if re.fullmatch(down, k)]
    # skip concatenations, outermost first: the up layer at depth d reads [channels[d] skip, deeper path]
    up_keys = [top + "conv.weight"] + [
        "model.1." + "submodule.1." * depth + up + "conv.weight" for depth in range(len(old_channels) - 2)]
    return _narrow(state, shapes, dict(zip(up_keys, old_channels, strict=False)))


def _narrow(state: dict[str, Any], shapes: dict[str, Any], skips: dict[str, int]) -> dict[str, Any]:
    import torch

    narrowed = {}
    for key, tensor in state.items():
        if key not in shapes:
            raise AblationInputError(f"The weights do not fit the network: unexpected '{key}'")
        for dim, size in enumerate(shapes[key]):
            if tensor.shape[dim] == size:
                continue
            if key in skips and dim == 0:
                c, total = skips[key], tensor.shape[0]
                index = list(range(c * size // total)) + list(range(c, c + (total - c) * size // total))
            else:
                index = list(range(size))
            tensor = tensor.index_select(dim, torch.tensor(index))
        narrowed[key] = tensor.clone()
    return narrowed


def main() -> None:  # pragma: no cover - offline tool
    """``python -m AblationSimulatorLib.surrogate OUT_DIR [N_TRAIN N_TEST EPOCHS [N_FINE [INIT_WEIGHTS LR]]]``:
    data, training (or fine-tuning from INIT_WEIGHTS, narrowed to ``NETWORK_ARGS`` when wider), ONNX export,
    evaluation against the 1.5 mm and the 1 mm solver (1 CPU thread for both), card."""
    import json
    import sys

    import torch

    out = Path(sys.argv[1])
    n_train, n_test, epochs = (int(v) for v in (sys.argv[2:5] if len(sys.argv) >= 5 else (240, 40, 30)))
    n_fine = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    init = Path(sys.argv[6]) if len(sys.argv) > 6 else None
    learning_rate = float(sys.argv[7]) if len(sys.argv) > 7 else 2e-3
    out.mkdir(parents=True, exist_ok=True)
    train_file, test_file = out / "train.npz", out / "test.npz"
    if not train_file.exists():
        np.savez_compressed(train_file, **build_dataset(list(range(n_train))))
    if not test_file.exists():
        np.savez_compressed(test_file, **build_dataset(list(range(100_000, 100_000 + n_test))))
    data = dict(np.load(train_file))
    torch.set_num_threads(1)  # one thread is several times faster than two on a shared 2-core machine
    init_state = narrow_state_dict(torch.load(init, map_location="cpu")) if init is not None else None
    started = time.perf_counter()
    net, history = train(data, epochs=epochs, learning_rate=learning_rate, init_state=init_state)
    report: dict[str, Any] = {"n_train": n_train, "n_test": n_test, "epochs": epochs, "learning_rate": learning_rate,
                              "loss_history": history, "training_seconds": time.perf_counter() - started}
    torch.save(net.state_dict(), out / WEIGHTS_FILE)
    if init is not None:
        report["initialisation"] = (f"Fine-tuned from the previous weights ({init.name}; when wider, each layer's "
                                    "leading channels, see narrow_state_dict).")
    report = evaluate(out, report, n_fine)
    print(json.dumps({k: v for k, v in report.items() if k not in ("loss_history", "fine")}, indent=1))


def evaluate(out: Path, report: dict[str, Any], n_fine: int = 16) -> dict[str, Any]:  # pragma: no cover - offline
    """Export ``out/ablation-zone-surrogate.pt`` to ONNX, measure Dice and speed on ``out/test.npz`` (the 1.5 mm
    labels) and against the 1 mm solver on ``n_fine`` held-out seeds 100000+, and write the card and
    ``evaluation.json`` into ``out``. Network and solver run on one CPU thread (ONNX Runtime for the network)."""
    import json

    import torch

    from HCCInterventionalAILib.models import load_card

    torch.set_num_threads(1)
    weights = out / WEIGHTS_FILE
    onnx = export_onnx(weights, out / WEIGHTS_FILE.replace(".pt", ".onnx"))
    test = dict(np.load(out / "test.npz"))
    blank = {"dice_mean": 0.0, "dice_min": 0.0, "speedup_median": 0.0, "dice_fine_mean": 0.0, "dice_fine_min": 0.0,
             "speedup_fine_median": 0.0, "n_fine": 0}
    write_card(out, weights, blank | report, onnx=onnx)
    card = load_card(out / CARD_FILE)
    dices, seconds = [], []
    for x, zone in zip(test["inputs"], test["zones"], strict=True):
        predict_patch(x, card=card, cache_dir=out / "cache")  # warm-up
        started = time.perf_counter()
        pred = predict_patch(x, card=card, cache_dir=out / "cache")
        seconds.append(time.perf_counter() - started)
        dices.append(dice(pred, zone))
    report |= {"backend": "ONNX Runtime", "dice_mean": float(np.mean(dices)), "dice_median": float(np.median(dices)),
               "dice_min": float(np.min(dices)), "network_seconds_median_cpu1": float(np.median(seconds)),
               "solver_seconds_median_cpu1": float(np.median(test["seconds"])),
               "speedup_median": float(np.median(test["seconds"]) / np.median(seconds))}
    fine = [compare_with_fine_solver(seed, card=card, cache_dir=out / "cache")
            for seed in range(100_000, 100_000 + n_fine)]
    report |= {"n_fine": n_fine, "fine": [vars(f) for f in fine],
               "dice_fine_mean": float(np.mean([f.dice_fine for f in fine])),
               "dice_fine_min": float(np.min([f.dice_fine for f in fine])),
               "dice_coarse_mean_fine_seeds": float(np.mean([f.dice_coarse for f in fine])),
               "speedup_fine_median": float(np.median([f.solver_fine_seconds for f in fine])
                                            / np.median([f.network_seconds for f in fine])),
               "speedup_coarse_median_fine_seeds": float(np.median([f.solver_coarse_seconds for f in fine])
                                                         / np.median([f.network_seconds for f in fine]))}
    (out / "evaluation.json").write_text(json.dumps(report, indent=1))
    write_card(out, weights, report, onnx=onnx)
    return report


if __name__ == "__main__":  # pragma: no cover
    main()
