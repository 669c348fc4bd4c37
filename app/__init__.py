"""A real-time fill-mask server for BERT masked-language models, with Azure ML's /score contract."""

__version__ = "0.1.0"
