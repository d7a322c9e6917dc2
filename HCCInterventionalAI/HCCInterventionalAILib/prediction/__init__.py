"""Response prediction, nomograms and TACE-vs-HAIC treatment selection (headless; no Qt, MRML or torch).

Submodules (import them directly; this package imports nothing heavy):

* :mod:`.evaluation` — DeLong AUC CI and tests, Youden threshold, Hosmer–Lemeshow, Spiegelhalter, log-rank,
  bootstrap, calibration and decision curves, Kaplan–Meier;
* :mod:`.cohort` — synthetic cohorts with planted effects (demo, tests, benchmarks);
* :mod:`.selection`, :mod:`.modelling` — LASSO / mRMR / RFE selectors, classifiers, nested cross-validation,
  odds ratios, radiomics score, integrated model;
* :mod:`.interaction` — the main-effect + treatment-interaction model, Maintain/Alter, subgroups;
* :mod:`.explain` — SHAP values (exact for the logistic model, XGBoost's TreeSHAP for trees);
* :mod:`.deep` — seed-004 slice preprocessing, small 2D CNN score, Grad-CAM (torch/MONAI, lazy);
* :mod:`.nomogram` — points, probability and the nomogram figure;
* :mod:`.artefact` — saved models (skops + JSON, model card, SHA-256, type allow-list);
* :mod:`.pipeline` — ``TrainingRequest`` → ``train_model`` → ``TrainingResult``; ``predict_patient``;
* :mod:`.lesion` — the radiomics row of one segmented lesion, extracted with the preset the model card records;
* :mod:`.files`, :mod:`.plots`, :mod:`.to_scene`, :mod:`.cli`, :mod:`.demo` — outputs, figures, MRML nodes,
  ``hccai train-model`` / ``hccai predict``, the ``70-prediction`` demo step.

Needs the ``prediction`` extra: scikit-learn, statsmodels, lifelines, skops, xgboost-cpu (SHAP values are
computed without the ``shap`` package, whose ``slicer`` dependency would shadow slicer-core; see :mod:`.explain`).
"""

from __future__ import annotations

__all__: list[str] = []
