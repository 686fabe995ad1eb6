"""Serving a detector: the scoring wrapper, files, the pyfunc, Spark, ONNX export and
scoring, REST, monitoring."""
