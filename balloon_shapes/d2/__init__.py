"""Everything that imports Detectron2: our datasets, evaluators and trainer inside a real
Detectron2, and a real Detectron2 behind our interface (``model.engine=detectron2``).

Optional (built from source; no registry wheels): ``engine_model`` and ``yacs_config`` import
it (and ``checkpointer``) only when it is used; the other modules need it at import.
"""
