"""Code from Google's text classification guide ("Batch training"), verbatim.

Tests feed it to `streamfit.Model.fit_generator` and to the Keras bridge to
show that what users copied from the guide runs unchanged. Importable from
tests because pyproject puts `tests` on pytest's `pythonpath`.
"""


def _data_generator(x, y, num_features, batch_size):
    num_samples = x.shape[0]
    num_batches = num_samples // batch_size
    if num_samples % batch_size:
        num_batches += 1
    while 1:
        for i in range(num_batches):
            start_idx = i * batch_size
            end_idx = (i + 1) * batch_size
            if end_idx > num_samples:
                end_idx = num_samples
            x_batch = x[start_idx:end_idx]
            y_batch = y[start_idx:end_idx]
            yield x_batch, y_batch
