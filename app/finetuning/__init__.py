"""`python -m app finetune TASK ...`: fine-tune a BERT checkpoint into a model this server serves."""
