"""What CI reads: GitHub's step summary, outputs and annotations, JUnit, the matrix."""
