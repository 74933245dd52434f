"""Exported models and the ``export`` command.

- :mod:`.formats`      ONNX / TorchScript export with verification, loading them back, the ONNX cache;
- :mod:`.calibration`  int8 calibration images and records (keyed to the float weights);
- :mod:`.quantize`     int8 ONNX models (ONNX Runtime static quantisation) and their cache;
- :mod:`.cli`          ``rgb2depth export``.
"""
