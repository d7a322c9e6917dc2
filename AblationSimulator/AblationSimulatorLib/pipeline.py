"""Ablation-zone prediction as one request and a staged pipeline, shared by the module, ``hccai ablation`` and the demo.

:class:`AblationRequest` holds every option; :func:`plan_ablation` runs

1. :func:`prepare` — validate the request, the applicators (inside the image) and the segments (tumour, vessels),
   once;
2. :func:`vendor_stage` — the chart ellipsoid of each applicator, their union;
3. :func:`physics_stage` — the Pennes bioheat simulation with the calibrated sources on a sub-grid around the
   applicators (vessels as heat sinks, perfused tissue), Ω ≥ 1 zone carried back to the image grid;
4. :func:`margin_stage` — margins of the tumour(s) against each predicted zone;

and returns an :class:`AblationResult` (serialisable with :meth:`AblationResult.to_dict`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .applicator import Applicator
from .errors import AblationInputError, ApplicatorOutsideVolumeError, EmptyStructureError, ZeroEnergyError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from HCCInterventionalAILib.imaging import Geometry, Segmentation, Volume
    from HCCInterventionalAILib.progress import Progress, ProgressCallback

    from .bioheat import BioheatResult
    from .devices import Device, Ellipsoid
    from .margins import MarginResult
    from .source import SourceModel

__all__ = [
    "MODELS",
    "AblationRequest",
    "PreparedCase",
    "AblationResult",
    "prepare",
    "vendor_stage",
    "physics_stage",
    "margin_stage",
    "plan_ablation",
    "find_segments",
]

MODELS = ("vendor", "physics", "both", "network")
#: Segment-name fragments recognised as tumours / large vessels when the request names none.
TUMOUR_WORDS = ("tumour", "tumor", "lesion", "hcc", "nodule")
VESSEL_WORDS = ("vessel", "vein", "portal", "hepatic", "artery", "cava", "ivc", "aorta")


def _finite_positive(value: Any, what: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ZeroEnergyError(f"{what} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class AblationRequest:
    """What to predict for one ablation (the vocabulary of the module, ``hccai ablation`` and the demo).

    Attributes:
        ablation_device: device preset key or name (see :func:`~.devices.device_names`).
        power_w, time_s: generator setting; must lie within the device's chart (no extrapolation).
        model: "vendor" (chart ellipsoids), "physics" (bioheat with heat sinks), "both", or "network" (the
            physics-trained surrogate of :mod:`~.surrogate`, with the vendor zone beside it).
        tissue: tissue preset for the physics model (``TISSUE_PRESETS``: "liver", "liver_ex_vivo", ...).
        tumour_segments, vessel_segments: segment names; None = recognised by name (tumour/lesion...,
            vessel/vein/portal/hepatic...).
        target_margin_mm: margin aimed for (default 5 mm).
        grid_spacing_mm: voxel size of the physics grid (mm).
        roi_margin_mm: how far the physics grid reaches beyond the chart ellipsoids (mm).
        omega_threshold: Arrhenius Ω defining coagulation (1 = 63 % cell death).
        device: compute device for the physics ("auto", "cpu", "cuda").
        time_step_s: explicit solver step (s); None = 90 % of the stability limit (a larger one is refused).
    """

    ablation_device: str = "covidien-mwa"
    power_w: float = 75.0
    time_s: float = 300.0
    model: str = "vendor"
    tissue: str = "liver"
    tumour_segments: tuple[str, ...] | None = None
    vessel_segments: tuple[str, ...] | None = None
    target_margin_mm: float = 5.0
    grid_spacing_mm: float = 1.0
    roi_margin_mm: float = 12.0
    omega_threshold: float = 1.0
    device: str = "auto"
    time_step_s: float | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise AblationInputError(f"Unknown zone model {self.model!r}; choose one of {', '.join(MODELS)}")
        _finite_positive(self.power_w, "The power (W)")
        _finite_positive(self.time_s, "The ablation time (s)")
        _finite_positive(self.grid_spacing_mm, "The physics grid spacing (mm)")
        _finite_positive(self.omega_threshold, "The damage threshold Ω")
        if not (isinstance(self.target_margin_mm, (int, float)) and self.target_margin_mm >= 0):
            raise AblationInputError(f"The target margin must be ≥ 0 mm, got {self.target_margin_mm!r}")
        if not (isinstance(self.roi_margin_mm, (int, float)) and self.roi_margin_mm >= 0):
            raise AblationInputError(f"The physics ROI margin must be ≥ 0 mm, got {self.roi_margin_mm!r}")
        from .bioheat import TISSUE_PRESETS

        if self.tissue not in TISSUE_PRESETS:
            raise AblationInputError(f"Unknown tissue preset {self.tissue!r}; choose one of {', '.join(TISSUE_PRESETS)}")
        for name in ("tumour_segments", "vessel_segments"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(str(v) for v in value))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AblationRequest:
        """A request from a dict (unknown names are an error that lists the known ones)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise AblationInputError(f"Unknown ablation option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(values))

    def replace(self, **changes: Any) -> AblationRequest:
        """A copy with some fields changed (validated again)."""
        return AblationRequest.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def find_segments(segmentation: Segmentation | None, names: Sequence[str] | None, words: Sequence[str]) -> list[str]:
    """Segment names requested explicitly (each must exist) or recognised by the name fragments ``words``."""
    if segmentation is None:
        if names:
            raise EmptyStructureError(f"Segments {', '.join(names)} were requested but no segmentation was given")
        return []
    if names is not None:
        missing = [n for n in names if n not in segmentation]
        if missing:
            raise EmptyStructureError(
                f"Segment(s) {', '.join(missing)} not found; the segmentation has {', '.join(segmentation.names)}")
        return list(names)
    return [n for n in segmentation.names if any(w in n.lower() for w in words)]


@dataclass
class PreparedCase:
    """Inputs validated once: the image grid, applicators, device, setting and masks on the grid."""

    request: AblationRequest
    geometry: Geometry
    applicators: list[Applicator]
    device: Device
    ellipsoid: Ellipsoid
    source: SourceModel
    tumour: np.ndarray | None
    vessels: np.ndarray | None
    tumour_names: list[str]
    vessel_names: list[str]


def _inside(geometry: Geometry, point: np.ndarray, tolerance_voxels: float = 0.5) -> bool:
    index = geometry.continuous_index(point)[0]
    upper = np.array(geometry.shape[::-1], dtype=float) - 1
    return bool(np.all(index >= -tolerance_voxels) and np.all(index <= upper + tolerance_voxels))


def prepare(
    applicators: Sequence[Applicator],
    request: AblationRequest,
    *,
    geometry: Geometry | None = None,
    ct: Volume | None = None,
    segmentation: Segmentation | None = None,
) -> PreparedCase:
    """Validate everything before any computation.

    Raises:
        AblationInputError: no applicator or no grid; ApplicatorOutsideVolumeError: a tip (or the zone centre)
            outside the image; UnknownDeviceError / SettingsOutOfRangeError / ZeroEnergyError: the setting;
            EmptyStructureError: a requested or recognised tumour/vessel segment that is empty.
    """
    from .devices import get_device

    applicators = list(applicators)
    if not applicators:
        raise AblationInputError("Place at least one applicator (a line from the skin entry to the tip)")
    if geometry is None:
        if ct is not None:
            geometry = ct.geometry
        elif segmentation is not None:
            geometry = segmentation.geometry
        else:
            raise AblationInputError("An image (CT) or a grid is needed to place the zone on")
    device = get_device(request.ablation_device)
    ellipsoid = device.ellipsoid(request.power_w, request.time_s)
    source = device.source_model(request.power_w, request.time_s)
    for applicator in applicators:
        if not _inside(geometry, np.asarray(applicator.tip_lps)):
            raise ApplicatorOutsideVolumeError(f"The tip of '{applicator.name}' lies outside the image volume")
        if not _inside(geometry, applicator.point_from_tip(ellipsoid.centre_offset_mm)):
            raise ApplicatorOutsideVolumeError(
                f"The zone centre of '{applicator.name}' ({ellipsoid.centre_offset_mm:.0f} mm behind the tip) lies "
                "outside the image volume")
    tumour = vessels = None
    tumour_names = find_segments(segmentation, request.tumour_segments, TUMOUR_WORDS)
    vessel_names = find_segments(segmentation, request.vessel_segments, VESSEL_WORDS)
    if segmentation is not None:
        if not segmentation.geometry.same_grid(geometry):
            from HCCInterventionalAILib.imaging.resample import resample_to_geometry

            def on_grid(name: str) -> np.ndarray:
                mask = segmentation.mask(name, allow_empty=True)
                from HCCInterventionalAILib.imaging import Volume

                moved = resample_to_geometry(Volume(mask.astype(np.uint8), segmentation.geometry), geometry, "nearest")
                return moved.array.astype(bool)
        else:

            def on_grid(name: str) -> np.ndarray:
                return segmentation.mask(name, allow_empty=True).astype(bool)

        if tumour_names:
            tumour = np.zeros(geometry.shape, dtype=bool)
            for name in tumour_names:
                mask = on_grid(name)
                if not mask.any():
                    raise EmptyStructureError(f"The tumour segment '{name}' is empty")
                tumour |= mask
        if vessel_names:
            vessels = np.zeros(geometry.shape, dtype=bool)
            for name in vessel_names:
                vessels |= on_grid(name)
            if not vessels.any():
                vessels = None
    return PreparedCase(request, geometry, applicators, device, ellipsoid, source, tumour, vessels, tumour_names,
                        vessel_names)


def vendor_stage(case: PreparedCase) -> np.ndarray:
    """Union of the chart ellipsoids (uint8 on the case grid)."""
    from .zones import composite_ellipsoid_zone

    return composite_ellipsoid_zone(case.geometry, [(a, case.ellipsoid) for a in case.applicators])


def _physics_geometry(case: PreparedCase) -> Geometry:
    """Axis-aligned LPS grid (``grid_spacing_mm``) covering every chart ellipsoid plus ``roi_margin_mm``."""
    from HCCInterventionalAILib.imaging import Geometry

    e = case.ellipsoid
    reach = max(e.along_mm, e.perpendicular_1_mm, e.perpendicular_2_mm) + case.request.roi_margin_mm
    centres = np.array([a.point_from_tip(e.centre_offset_mm) for a in case.applicators])
    low, high = centres.min(axis=0) - reach, centres.max(axis=0) + reach
    h = case.request.grid_spacing_mm
    shape_ijk = np.ceil((high - low) / h).astype(int) + 1
    return Geometry(tuple(int(s) for s in shape_ijk[::-1]), (h, h, h), tuple(low))


@dataclass
class PhysicsOutput:
    """The physics zone on the case grid and the simulation on its own sub-grid."""

    zone: np.ndarray
    geometry: Geometry
    simulation: BioheatResult


def physics_stage(case: PreparedCase, progress: Progress | ProgressCallback | None = None) -> PhysicsOutput:
    """Bioheat simulation with the calibrated sources; returns the Ω ≥ threshold zone on the case grid.

    The tissue is homogeneous (the request's preset) over the whole sub-grid: only the vessel segments differ
    (held at blood temperature). Air, bone or lung inside the sub-grid are NOT modelled.
    """
    from HCCInterventionalAILib.imaging import Volume
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry

    from .bioheat import TISSUE_PRESETS
    from .source import simulate_applicators

    sub = _physics_geometry(case)
    vessels = None
    if case.vessels is not None:
        vessels = resample_to_geometry(Volume(case.vessels.astype(np.uint8), case.geometry), sub, "nearest").array
        vessels = vessels.astype(bool) if vessels.any() else None
    simulation = simulate_applicators(
        sub, [(a, case.source) for a in case.applicators], case.request.time_s,
        tissue=TISSUE_PRESETS[case.request.tissue], vessels=vessels, device=case.request.device, progress=progress,
        time_step_s=case.request.time_step_s,
    )
    coagulated = simulation.coagulation_mask(case.request.omega_threshold)
    zone = resample_to_geometry(Volume(coagulated, sub), case.geometry, "nearest").array.astype(np.uint8)
    return PhysicsOutput(zone, sub, simulation)


def margin_stage(case: PreparedCase, zone: np.ndarray) -> MarginResult | None:
    """Margins of the tumour(s) against a zone; None without a tumour; an empty zone gives an error."""
    from .margins import compute_margins

    if case.tumour is None:
        return None
    return compute_margins(case.tumour, zone, case.geometry.spacing, case.request.target_margin_mm)


@dataclass
class AblationResult:
    """Predicted zone(s), margins and provenance of one ablation plan."""

    request: AblationRequest
    applicators: list[Applicator]
    device_name: str
    device_source: str
    ellipsoid: Ellipsoid
    source: SourceModel
    geometry: Geometry
    vendor_zone: np.ndarray | None = field(default=None, repr=False)
    physics_zone: np.ndarray | None = field(default=None, repr=False)
    physics: PhysicsOutput | None = field(default=None, repr=False)
    network_zone: np.ndarray | None = field(default=None, repr=False)
    margins: dict[str, MarginResult] = field(default_factory=dict)
    tumour_names: list[str] = field(default_factory=list)
    vessel_names: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def zone(self, model: str) -> np.ndarray | None:
        """The zone mask of a model ("vendor", "physics", "network"), None when not computed."""
        return {"vendor": self.vendor_zone, "physics": self.physics_zone, "network": self.network_zone}[model]

    def zone_volume_ml(self, model: str) -> float:
        zone = self.zone(model)
        return float(zone.sum()) * self.geometry.voxel_volume_ml if zone is not None else float("nan")

    def zone_volume(self, model: str) -> Volume:
        """A zone as a uint8 :class:`Volume` on the image grid."""
        from HCCInterventionalAILib.imaging import Volume

        zone = self.zone(model)
        if zone is None:
            raise AblationInputError(f"No {model} zone was computed")
        return Volume(zone, self.geometry, name=f"Ablation zone ({model})")

    def margin_table(self) -> pd.DataFrame:
        """Metric × model table (one column per zone model with margins)."""
        import pandas as pd

        if not self.margins:
            return pd.DataFrame(columns=["Metric"])
        tables = [m.table().rename(columns={"Value": model}).set_index("Metric") for model, m in self.margins.items()]
        return pd.concat(tables, axis=1).reset_index()

    def summary_table(self) -> pd.DataFrame:
        """Zone volumes and extents per model."""
        import pandas as pd

        rows = []
        for model in ("vendor", "physics", "network"):
            zone = self.zone(model)
            if zone is None:
                continue
            row = {"Model": model, "Zone volume (ml)": self.zone_volume_ml(model)}
            if model == "physics" and self.physics is not None:
                row["Max temperature (°C)"] = float(self.physics.simulation.max_temperature_c.max())
            rows.append(row)
        return pd.DataFrame(rows)

    def summary_html(self) -> str:
        """Zone volumes, the margin table and the warnings as HTML (the module's result label)."""
        from html import escape

        lines = [f"{model} zone: <b>{volume:.1f} ml</b>" for model, volume in self.to_dict()["zone_volume_ml"].items()]
        table = self.margin_table()
        if not table.empty:
            header = "".join(f"<th>{escape(str(c))}</th>" for c in table.columns)
            rows = "".join("<tr>" + "".join(f"<td>{v:.1f}</td>" if isinstance(v, float) else f"<td>{escape(str(v))}</td>"
                                            for v in row) + "</tr>" for row in table.itertuples(index=False))
            lines.append(f"<table><tr>{header}</tr>{rows}</table>")
        lines += [f"<i>{escape(w)}</i>" for w in self.warnings]
        return "<br>".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (arrays are summarised, never dumped)."""
        e = self.ellipsoid
        data: dict[str, Any] = {
            "request": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.request.to_dict().items()},
            "device": {"name": self.device_name, "source": self.device_source},
            "applicators": [a.to_dict() for a in self.applicators],
            "chart_ellipsoid_mm": {"along": e.along_mm, "perpendicular_1": e.perpendicular_1_mm,
                                   "perpendicular_2": e.perpendicular_2_mm, "centre_offset": e.centre_offset_mm},
            "source_model": dataclasses.asdict(self.source),
            "zone_volume_ml": {m: self.zone_volume_ml(m) for m in ("vendor", "physics", "network")
                               if self.zone(m) is not None},
            "margins": {model: m.summary() for model, m in self.margins.items()},
            "tumour_segments": self.tumour_names,
            "vessel_segments": self.vessel_names,
            "timings_s": self.timings_s,
            "warnings": self.warnings,
        }
        if self.physics is not None:
            sim = self.physics.simulation
            data["physics"] = {
                "grid_shape": list(self.physics.geometry.shape), "grid_spacing_mm": list(self.physics.geometry.spacing),
                "time_step_s": sim.time_step_s, "n_steps": sim.n_steps, "compute_device": sim.device,
                "max_temperature_c": float(sim.max_temperature_c.max()), "tissue": sim.tissue.name,
                "tissue_source": sim.tissue.source,
            }
        return _jsonable(data)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plan_ablation(
    applicators: Sequence[Applicator],
    request: AblationRequest | None = None,
    *,
    ct: Volume | None = None,
    segmentation: Segmentation | None = None,
    geometry: Geometry | None = None,
    progress: Progress | ProgressCallback | None = None,
    **options: Any,
) -> AblationResult:
    """Predict the ablation zone of one or several applicators and measure the tumour margins.

    Args:
        applicators: placed applicators (LPS).
        request: the options (:class:`AblationRequest`); ``options`` replace some of its fields.
        ct: the image the zone is placed on (its grid); or ``geometry``.
        segmentation: tumour(s) and vessels (any grid; resampled onto the image's when needed).
        progress: progress and Cancel.

    Returns:
        an :class:`AblationResult`.

    Raises:
        AblationInputError and subclasses: see :func:`prepare`; EmptyStructureError when a zone is empty
        while margins are requested.
    """
    from HCCInterventionalAILib.progress import as_progress

    request = request or AblationRequest()
    if options:
        request = request.replace(**options)
    reporter = as_progress(progress)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    case = prepare(applicators, request, geometry=geometry, ct=ct, segmentation=segmentation)
    timings["prepare"] = time.perf_counter() - started
    reporter.update(0.02, "Inputs checked")
    result = AblationResult(request, case.applicators, case.device.name, case.device.source, case.ellipsoid,
                            case.source, case.geometry, tumour_names=case.tumour_names, vessel_names=case.vessel_names)
    if request.model in ("vendor", "both", "network"):
        t0 = time.perf_counter()
        result.vendor_zone = vendor_stage(case)
        timings["vendor"] = time.perf_counter() - t0
        reporter.update(0.05, "Vendor zone")
    if request.model in ("physics", "both"):
        t0 = time.perf_counter()
        result.physics = physics_stage(case, reporter.sub(0.05, 0.9))
        result.physics_zone = result.physics.zone
        timings["physics"] = time.perf_counter() - t0
        if not result.physics_zone.any():
            result.warnings.append("The physics model predicts no coagulation (Ω < 1 everywhere) for this setting")
        if case.vessel_names:
            result.warnings.append(f"Heat sink: segments {', '.join(case.vessel_names)} held at blood temperature")
    if request.model == "network":
        if ct is None:
            raise AblationInputError("The network model needs the CT image (it reads the vessels from it)")
        from .surrogate import predict_zone_network

        t0 = time.perf_counter()
        result.network_zone = predict_zone_network(ct, case.applicators, request, vessels=case.vessels,
                                                   device=request.device)
        timings["network"] = time.perf_counter() - t0
        result.warnings.append("Network zone: a surrogate trained on synthetic bioheat simulations only")
        reporter.update(0.9, "Network zone")
    t0 = time.perf_counter()
    for model, zone in (("vendor", result.vendor_zone), ("physics", result.physics_zone),
                        ("network", result.network_zone)):
        if zone is not None and case.tumour is not None:
            if not zone.any():
                result.warnings.append(f"No {model} zone: margins not measured")
                continue
            result.margins[model] = margin_stage(case, zone)  # type: ignore[assignment]
    timings["margins"] = time.perf_counter() - t0
    result.timings_s = timings
    reporter.update(1.0, "Ablation zone predicted")
    return result
