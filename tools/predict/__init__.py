"""Property predictors: the Predictor Protocol, a fingerprint baseline, and the registry of model versions."""
