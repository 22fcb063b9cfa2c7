"""3D structures: conformers (``conformers``), their cache by InChIKey (``cache``), protonation at a pH
(``protonation``), structure files in and out (``io``), and embedding a file of molecules through compute jobs
(``embed``). Docking, free energies and atomistic models start from here; nothing heavy is imported at import time."""
