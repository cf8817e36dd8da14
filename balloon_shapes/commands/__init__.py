"""The bodies of the scripts that load a model and do a whole job with it: ``evaluate``
(scripts/eval.py) and ``export`` (scripts/export.py). Above the model loader, so ``d2/`` and
``deploy/`` can sit below it."""
