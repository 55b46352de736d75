"""Monitoring and retraining: measure the champion on labelled predictions and drift, decide,
retrain a challenger, compare the two on the same fresh holdout, promote only a better one."""
