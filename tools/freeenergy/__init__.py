"""Free energies with OpenMM: solutes parametrised (GAFF-2.11 with AM1-BCC charges, or RDKit's MMFF94), alchemical
λ states sampled as compute jobs (one job per window), and MBAR (pymbar) for the free energy, its statistical error
and the overlap between neighbouring states.

``hydration`` is the entry point for hydration free energies; nothing here imports OpenMM, pymbar or openmmtools
until a calculation runs.
"""
