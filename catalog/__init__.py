"""The failure-mode catalog: the knowledge layer. Imports no app but core."""
