"""The lab model: reading a lab's source, its questions and where its build outputs go.

Layer 1: both ``mlsys_edu.course`` and ``mlsys_edu.grader`` import from here.
"""

from mlsys_edu.lab.layout import Lab, find_labs, get_lab, project_root
from mlsys_edu.lab.questions import TestCase, load_tests, public_source, question

__all__ = ["Lab", "TestCase", "find_labs", "get_lab", "load_tests", "project_root",
           "public_source", "question"]
