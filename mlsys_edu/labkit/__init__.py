"""Ready-made code that the labs import: plumbing students use but do not write.

Each lab's handout says what a piece does and why; the code lives here so that a lab's source
stays readable in one sitting and later labs reuse it (lab 02 debugs the label matrices of
lab 01). Modules here import only numpy, pandas and, where named, torch.
"""
