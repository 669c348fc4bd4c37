"""Labelled data sets read into plain examples, for evaluation now and fine-tuning later.

Nothing here knows a model or imports torch: a reader gets the model's label names when it must
check the data's labels against them.
"""
