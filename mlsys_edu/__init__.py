"""mlsys-edu: a course kit for a seminar on machine-learning systems."""

__version__ = "0.1.0"
