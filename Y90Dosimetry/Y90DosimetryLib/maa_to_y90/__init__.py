"""MAA → Y-90 translation: predict the post-treatment microsphere distribution from 99mTc-MAA SPECT/CT.

A conditional GAN (3D U-Net generator + PatchGAN) after Plachouris et al. (Med Phys 2021, seed 001), trained on
paired cases (:mod:`.train`), run through the common model-loading library (:mod:`.predict`) and evaluated as mean
dose differences per structure against the delivered dose, next to plain MAA-based prediction (:mod:`.evaluate`).
No trained weights ship: users train on their own paired cases; :mod:`.synthetic` provides SYNTHETIC cases for
tests and demonstrations only.
"""

from .data import PairedCase, read_manifest
from .evaluate import compartment_masks, evaluate_translation, structure_mean_doses
from .model_card import MODEL_ID, save_trained_model
from .predict import predict_y90_distribution
from .synthetic import simulate_paired_case
from .train import TrainingConfig, TrainingHistory, train_translation

__all__ = [
    "MODEL_ID",
    "PairedCase",
    "TrainingConfig",
    "TrainingHistory",
    "compartment_masks",
    "evaluate_translation",
    "predict_y90_distribution",
    "read_manifest",
    "save_trained_model",
    "simulate_paired_case",
    "structure_mean_doses",
    "train_translation",
]
