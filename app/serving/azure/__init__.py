"""Azure ML's `/score`: the body's envelope (contract), each task's columns and parameters
(task_requests), the wire models (schemas) and the answers per task, on the shared data plane."""
