"""Runnable recipes: typed tasks (tasks.py) used from a FastAPI app and a Flask app."""
