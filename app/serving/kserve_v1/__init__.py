"""KServe's v1 protocol (TensorFlow Serving's REST shape): `/v1/models`, model readiness and
`:predict` with `{"instances": [...]}`, answered `{"predictions": [...]}`; errors `{"error": ...}`."""
