"""The Open Inference Protocol (v2) that KServe, Triton and MLServer share: health, metadata and
`infer` on /v2, with tensors in JSON `data` or in the binary tensor data extension that
tritonclient uses by default. Every task's texts and answers travel as named tensors
(`task_tensors`); the work runs through the same engine, limits and auth as /score.
"""
