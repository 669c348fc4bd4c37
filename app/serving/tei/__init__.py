"""Hugging Face text-embeddings-inference's routes: /embed, /embed_all, /info."""
