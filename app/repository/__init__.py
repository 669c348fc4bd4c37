"""Many models on one server: which models (`specs`), and their lives in it (`repository`)."""
