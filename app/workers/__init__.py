"""WORKERS=N: N front-end processes around one engine process.

The supervisor (`supervisor.py`) binds the listening socket, starts the engine process and N
front-ends, restarts a front-end that dies, stops everything (non-zero) when the engine dies, and
drains front-ends first on SIGTERM.

- The engine process (`engine_process.py`) is today's whole app, never served over HTTP: the
  repository with every model's weights, the batching queue, the inference thread, the compiled
  graphs. It answers front-ends over ZMQ (`engine_server.py`).
- A front-end is the same FastAPI app over a mirror of the repository (`mirror.py`) whose models
  are weightless twins (`twins.py`): the tokenizer, the config and the tasks' encode and decode,
  their modules on torch's meta device. Its engine (`engine_client.py`) sends each request's
  features (token ids) to the engine process and gets the head outputs back, so HTTP, validation,
  tokenizing, decoding, JSON and logs run in the front-ends, beside each other.
"""
