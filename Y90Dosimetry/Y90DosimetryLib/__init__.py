"""Y90DosimetryLib: 99mTc-MAA → Y-90 radioembolization planning and voxel dosimetry, headless.

Lung shunt fraction (SPECT or planar), activity prescription (MIRD single compartment, BSA, partition and
multi-compartment models, lung dose, vial ordering with decay), voxel dosimetry (local deposition and
dose-voxel-kernel convolution by FFT for any voxel size, with CT density correction and an optional torch GPU
path), DVH metrics, BED/EUD, predicted-vs-delivered comparison with a 3D gamma index, DICOM RT Dose export,
and the :func:`plan_treatment` pipeline that chains them.

Importing this package pulls in neither Qt, Slicer, VTK nor torch. Clinical conventions are presets in
``Resources/Presets/y90_*.json`` (see :mod:`.presets`); physical constants are in :mod:`.constants`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .activity import (  # noqa: E402
    ActivityPlan,
    Compartment,
    CompartmentDose,
    LungDose,
    VialOrder,
    activity_at_calibration,
    bsa_plan,
    compartment_plan,
    decay_factor,
    dubois_bsa,
    lung_dose,
    mird_activity,
    mird_dose,
    mird_plan,
    order_vial,
    partition_plan,
)
from .alignment import MisregistrationError, check_alignment  # noqa: E402
from .case import PlanningCase, StructureRoles  # noqa: E402
from .compare import GammaResult, compare_doses, gamma_index  # noqa: E402
from .constants import Y90_HALF_LIFE_H, Y90_MEAN_BETA_ENERGY_MEV, first_principles_dose_constant  # noqa: E402
from .dvh import DoseStatistics, cumulative_dvh, dose_statistics, dose_statistics_table, dvh_table  # noqa: E402
from .errors import (  # noqa: E402
    LungShuntError,
    MissingStructureError,
    NegativeCountsError,
    PresetError,
    Y90InputError,
    ZeroActivityError,
)
from .kernels import DoseKernel, RadialKernelModel, SValueTable, dose_kernel, read_svalue_table  # noqa: E402
from .lung_shunt import (  # noqa: E402
    LungRegion,
    LungShuntResult,
    lung_region_from_spect,
    lung_shunt_fraction,
    planar_lung_shunt,
    spect_lung_shunt,
)

# The stages live in .planning (its `voxel_dose` stage is not re-exported: the name is this package's submodule).
from .planning import DosimetryResult, dose_tables, measure_lung_shunt, plan_treatment, prescribe  # noqa: E402
from .quantitative import QuantitativeActivity, quantitative_activity  # noqa: E402
from .radiobiology import bed_permanent_implant, eqd2, equivalent_uniform_dose  # noqa: E402
from .request import METHODS, PlanRequest  # noqa: E402
from .rtdose import read_rtdose, write_rtdose  # noqa: E402
from .voxel_dose import activity_from_counts, kernel_convolution_dose, local_deposition_dose  # noqa: E402

__all__ = [
    "__version__",
    "ActivityPlan",
    "Compartment",
    "CompartmentDose",
    "DoseKernel",
    "DoseStatistics",
    "DosimetryResult",
    "GammaResult",
    "LungDose",
    "METHODS",
    "LungRegion",
    "LungShuntError",
    "LungShuntResult",
    "MisregistrationError",
    "MissingStructureError",
    "NegativeCountsError",
    "PlanRequest",
    "PlanningCase",
    "PresetError",
    "QuantitativeActivity",
    "RadialKernelModel",
    "SValueTable",
    "StructureRoles",
    "VialOrder",
    "Y90InputError",
    "Y90_HALF_LIFE_H",
    "Y90_MEAN_BETA_ENERGY_MEV",
    "ZeroActivityError",
    "activity_at_calibration",
    "activity_from_counts",
    "bed_permanent_implant",
    "bsa_plan",
    "check_alignment",
    "compare_doses",
    "compartment_plan",
    "cumulative_dvh",
    "decay_factor",
    "dose_kernel",
    "dose_statistics",
    "dose_statistics_table",
    "dose_tables",
    "dubois_bsa",
    "dvh_table",
    "eqd2",
    "equivalent_uniform_dose",
    "first_principles_dose_constant",
    "gamma_index",
    "kernel_convolution_dose",
    "local_deposition_dose",
    "lung_dose",
    "lung_region_from_spect",
    "lung_shunt_fraction",
    "measure_lung_shunt",
    "mird_activity",
    "mird_dose",
    "mird_plan",
    "order_vial",
    "partition_plan",
    "plan_treatment",
    "planar_lung_shunt",
    "prescribe",
    "quantitative_activity",
    "read_rtdose",
    "read_svalue_table",
    "spect_lung_shunt",
    "write_rtdose",
]
