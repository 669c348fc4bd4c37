"""The Open Inference Protocol over gRPC (GRPC_PORT): KServe's `inference.GRPCInferenceService` with
Triton's repository, configuration and statistics extensions, and `grpc.health.v1`. A codec over the
same data plane as /v2's REST routes: `tensors` reads and writes the messages, `calls` gives every
call the HTTP side's API key, admission, deadline, metrics and log line, `status_codes` is the one
table from the server's errors to gRPC's status codes, `service` answers each RPC and `server` runs it
on the app's event loop."""
