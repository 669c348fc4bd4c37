"""The Open Inference Protocol without its transport: tensors and their binary elements, a decoded
infer request and its job, each task's tensors, the model metadata, configuration and statistics.
The REST codec (`open_inference/`) and the gRPC one (`grpc_service/`) are both built on it."""
