"""ONNX / TorchScript export with verification (:mod:`.formats`) and the ``export`` command."""
