"""Hugging Face's task API on `POST /`: what `huggingface_hub.InferenceClient(model=<this server>)`
posts, answered in the schemas of transformers' pipelines and HF's Inference API."""
