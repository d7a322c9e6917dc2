"""HCC Interventional AI: the shared, headless library of the 3D Slicer extension.

Importing this package pulls in neither Qt, Slicer, VTK nor torch; those are imported lazily by the
functions that need them (the scene bridge, the model-loading library).
"""

__version__ = "0.1.0"
