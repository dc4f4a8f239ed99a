"""streamfit: train text classifiers on data that does not fit in memory."""
